"""``POST /events``: the HTTP endpoint the registry's notifications are sent to.

Built on the standard library's ``ThreadingHTTPServer``: the endpoint has two routes, small
bodies of a bounded size and one client (the registry opens one connection per endpoint and
posts one envelope at a time), so a thread per connection is the right model, and a web
framework would bring a dependency and an event loop for nothing. It speaks HTTP/1.1 with
keep-alive, as the registry does. Its rate is measured by ``benchmarks/bench_pulls.py``.

Every request is answered, and every refusal is one line through ``report``:

- a POST without ``Authorization: Bearer <token>`` (when a token is set): 401;
- a body without ``Content-Length`` (chunked): 411; above the limit: 413, unread;
- a body that is not an envelope of events: 400;
- the store failing, or the listener stopping: 503.

Nothing of a refused request is recorded, and the registry sends again what it was not
answered 2xx for. A 200 means every event of the envelope is committed: the listener hands
them to the ``sink`` and answers only once it returns. ``GET /healthz`` answers 200 while
the sink can record. ``GET /metrics`` answers what the ``metrics`` callable gives: the last
cleanup's series in the Prometheus text format, for a scraper that cannot read a textfile.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import urlsplit

from regsweep.core.errors import OperationError
from regsweep.core.pulls import Event
from regsweep.sources.events.notifications import MalformedEnvelopeError, read_envelope

EVENTS_PATH = "/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

#: The registry pretty-prints envelopes (about 1 KB per event) and sends a few events per
#: envelope; a megabyte holds a thousand.
DEFAULT_MAX_BODY = 1024 * 1024

#: Seconds an idle keep-alive connection is kept, and a slow body waited for.
IDLE_TIMEOUT = 60


class EventSink(Protocol):
    """Where accepted events go (the pull store's writer)."""

    @property
    def alive(self) -> bool:
        """Whether events handed over now can be recorded."""
        ...

    def submit(self, events: Sequence[Event]) -> None:
        """Return once ``events`` are durable; raise :class:`OperationError` if they are not."""
        ...

    def refused(self) -> None:
        """A request was refused: events may be going missing."""
        ...


class _Refused(Exception):
    def __init__(self, status: int, reason: str, *, body_unread: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.body_unread = body_unread


class NotificationListener(ThreadingHTTPServer):
    """The endpoint; ``serve_forever()`` until ``shutdown()``."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        sink: EventSink,
        *,
        token: str | None,
        max_body: int = DEFAULT_MAX_BODY,
        report: Callable[[str], None],
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        self.sink = sink
        self.max_body = max_body
        self.report = report
        self.metrics = metrics
        self._authorization = f"Bearer {token}".encode() if token else None
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{EVENTS_PATH}"

    def authorized(self, header: str | None) -> bool:
        """Whether the request carries the token (compared in constant time)."""
        if self._authorization is None:
            return True
        return header is not None and hmac.compare_digest(header.encode(), self._authorization)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: NotificationListener
    timeout = IDLE_TIMEOUT
    #: an answer leaves in one write when the handler returns (its headers and body were
    #: two writes, the second waiting 40 ms for the client's delayed ACK: 160 posts/s)
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == METRICS_PATH and self.server.metrics is not None:
            # imported where metrics are served: the settings of every command import this
            # module, and prometheus_client costs the others about 1 MiB of memory
            from prometheus_client import CONTENT_TYPE_LATEST

            self._send(200, self.server.metrics(), CONTENT_TYPE_LATEST)
        elif path != HEALTH_PATH:
            self._answer(404, "not found")
        elif self.server.sink.alive:
            self._answer(200, "ok")
        else:
            self._answer(503, "the pull store cannot record")

    def do_POST(self) -> None:
        try:
            events = self._events()
            self.server.sink.submit(events)
        except _Refused as refused:
            self.close_connection = self.close_connection or refused.body_unread
            self._refuse(refused.status, refused.reason)
            return
        except OperationError as exc:
            self._refuse(503, str(exc))
            return
        self._answer(200, f"recorded {len(events)} event{'' if len(events) == 1 else 's'}")

    def _events(self) -> list[Event]:
        """The envelope's events, or :class:`_Refused` saying why not."""
        if urlsplit(self.path).path != EVENTS_PATH:
            raise _Refused(404, f"no such endpoint (events go to {EVENTS_PATH})", body_unread=True)
        if not self.server.authorized(self.headers.get("Authorization")):
            raise _Refused(401, "missing or wrong bearer token", body_unread=True)
        length_header = self.headers.get("Content-Length")
        if length_header is None or "Transfer-Encoding" in self.headers:
            raise _Refused(411, "Content-Length required", body_unread=True)
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0:
            raise _Refused(400, f"invalid Content-Length {length_header[:20]!r}", body_unread=True)
        if length > self.server.max_body:
            raise _Refused(
                413,
                f"body of {length} bytes, above the limit of {self.server.max_body} (--max-body)",
                body_unread=True,
            )
        try:
            return read_envelope(self.rfile.read(length))
        except MalformedEnvelopeError as exc:
            raise _Refused(400, f"malformed envelope: {exc}") from None

    def _refuse(self, status: int, reason: str) -> None:
        self.server.sink.refused()
        self.server.report(
            f"refused {self.command} {self.path[:80]} from {self.client_address[0]}: "
            f"{status} {reason}"
        )
        self._answer(status, reason)

    def _answer(self, status: int, text: str) -> None:
        self._send(status, f"{text}\n".encode(), "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: refusals are reported above; accepted requests are the normal case."""
