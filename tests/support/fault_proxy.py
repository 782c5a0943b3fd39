"""A reverse proxy on 127.0.0.1 that breaks requests to a real registry on purpose.

Put between regsweep and the registry (``--registry-url proxy.url``), it forwards each
request and, following a seeded schedule, fails some of them the ways networks and
overloaded registries do:

- ``reset``: the connection is reset before the request reaches the registry;
- ``reset_after``: the registry did the work, then the connection is reset (the client
  never learns that its DELETE or PUT succeeded);
- ``stall``: no answer for ``stall`` seconds, then the connection is closed (longer than
  the client's timeout, it is a read timeout);
- ``500``/``502``: an error answer instead of forwarding; ``500_after``: the registry did
  the work, the client gets a 500;
- ``429``/``503``: an error answer with ``Retry-After: 1``;
- ``truncate``: the registry's answer, cut in the middle of its body (the declared length
  is kept, so the client sees the connection end early).

Only ``max_in_row`` faults in a row hit the same method and path, so a client that retries
enough always gets through; :attr:`FaultProxy.log` says what happened to each request.
``before_forward`` lets a test change the registry at a precise moment of a run (e.g. push
between regsweep's planning and its first deletion).
Bounded: a few worker threads, only loopback, stopped by :meth:`FaultProxy.close`.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from tests.support.registry import LOOPBACK

FAULTS = (
    "reset",
    "reset_after",
    "stall",
    "500",
    "500_after",
    "502",
    "429",
    "503",
    "truncate",
)
#: Faults whose request reached the registry (the work was done, the answer was lost).
FORWARDED = frozenset({"reset_after", "500_after", "truncate"})
#: Headers that describe one hop only (RFC 9110 section 7.6.1).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer"}
)


@dataclass
class FaultSchedule:
    """Which request fails, and how: each with probability ``rate``, decided by a seeded
    random generator in the order requests arrive."""

    seed: int
    rate: float = 0.25
    kinds: tuple[str, ...] = FAULTS
    #: at most this many faults in a row for one method and path
    max_in_row: int = 2
    #: seconds a ``stall`` holds the connection before closing it
    stall: float = 2.0
    #: only requests with these methods fail (None: every method)
    methods: frozenset[str] | None = None
    #: the very first request gets this fault, so that every schedule injects one
    first: str | None = None
    enabled: bool = True
    _random: random.Random = field(init=False, repr=False)
    _in_row: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = {*self.kinds, self.first or FAULTS[0]} - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        self._random = random.Random(self.seed)

    def next(self, method: str, path: str) -> str | None:
        """The fault for the next ``method`` request to ``path``, or None."""
        key = f"{method} {path}"
        with self._lock:
            if self.enabled and self.first is not None:
                kind, self.first = self.first, None
                self._in_row[key] += 1
                return kind
            draw, kind = self._random.random(), self._random.choice(self.kinds)
            targeted = self.methods is None or method in self.methods
            if (
                not (self.enabled and targeted)
                or draw >= self.rate
                or self._in_row[key] >= self.max_in_row
            ):
                self._in_row[key] = 0
                return None
            self._in_row[key] += 1
            return kind


class FaultProxy(ThreadingHTTPServer):
    """``with FaultProxy(registry.url, FaultSchedule(seed=1)) as proxy:`` then use
    ``proxy.url``. ``log`` holds ``(method, path, fault or "ok")`` per request.
    ``before_forward(method, path)`` is called before each request goes to the registry."""

    daemon_threads = True
    #: at most this many connections wait to be accepted
    request_queue_size = 64

    def __init__(
        self,
        upstream: str,
        schedule: FaultSchedule,
        before_forward: Callable[[str, str], None] | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname != LOOPBACK or parts.scheme != "http":
            raise ValueError(f"the proxy only forwards to http://{LOOPBACK}, not {upstream}")
        super().__init__((LOOPBACK, 0), _Handler)
        self.upstream = (parts.hostname, parts.port or 80)
        self.schedule = schedule
        self.before_forward = before_forward
        self.log: list[tuple[str, str, str]] = []
        self._log_lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def faults(self) -> Counter[str]:
        """How many requests got each fault."""
        return Counter(fault for _, _, fault in self.log if fault != "ok")

    def record(self, method: str, path: str, fault: str) -> None:
        with self._log_lock:
            self.log.append((method, path, fault))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (its timeout, after a stall) closes on us: expected."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        fault = self.server.schedule.next(self.command, path)
        self.server.record(self.command, path, fault or "ok")
        if fault == "reset":
            return self._reset()
        if fault == "stall":
            time.sleep(self.server.schedule.stall)
            self.close_connection = True
            return None
        if fault in ("500", "502", "429", "503"):
            return self._error(int(fault))
        if self.server.before_forward is not None:
            self.server.before_forward(self.command, path)
        status, reason, headers, content = self._forward(body)
        if fault == "reset_after":
            return self._reset()
        if fault == "500_after":
            return self._error(500)
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        if fault == "truncate" and len(content) > 1:
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)
        return None

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = _proxy

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request on to the registry as it came (Host included, so the
        registry's Location headers name the proxy) and read the whole answer."""
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
            # a HEAD answer declares the length of a body it does not send: keep that one
            dropped = _HOP_BY_HOP | ({"content-length"} if self.command != "HEAD" else set())
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in dropped]
            return answer.status, answer.reason, kept, content
        finally:
            connection.close()

    def _error(self, status: int) -> None:
        body = b'{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status in (429, 503):
            self.send_header("Retry-After", "1")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reset(self) -> None:
        """Close with a TCP reset (linger 0), the way a crashed peer or a firewall does."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass
