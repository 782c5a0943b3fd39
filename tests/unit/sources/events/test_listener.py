"""The notifications endpoint over loopback, with a recording sink: what it answers, what it
records, and that every refusal records nothing and says why in one line."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import httpx
import pytest

from regsweep.core.errors import OperationError
from regsweep.core.pulls import Action, Event
from regsweep.sources.events.listener import NotificationListener

TOKEN = "s3cr3t-t0ken"
DIGEST = "sha256:" + "ab" * 32
ENVELOPE = json.dumps(
    {
        "events": [
            {
                "timestamp": "2026-12-07T01:16:17.312491073Z",
                "action": "pull",
                "target": {
                    "repository": "app",
                    "tag": "t1",
                    "digest": DIGEST,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                },
            }
        ]
    }
).encode()


@dataclass
class Sink:
    """Records what the listener hands over; ``broken`` makes it fail as a full disk would."""

    submitted: list[Sequence[Event]] = field(default_factory=list)
    refusals: int = 0
    broken: bool = False

    @property
    def alive(self) -> bool:
        return not self.broken

    def submit(self, events: Sequence[Event]) -> None:
        if self.broken:
            raise OperationError("cannot record events: disk I/O error")
        self.submitted.append(events)

    def refused(self) -> None:
        self.refusals += 1


@dataclass
class Running:
    listener: NotificationListener
    sink: Sink
    lines: list[str]

    @property
    def base(self) -> str:
        return self.listener.url.removesuffix("/events")


@pytest.fixture
def running() -> Iterator[Running]:
    sink, lines = Sink(), []
    listener = NotificationListener(
        ("127.0.0.1", 0), sink, token=TOKEN, max_body=4096, report=lines.append
    )
    thread = threading.Thread(target=listener.serve_forever)
    thread.start()
    yield Running(listener, sink, lines)
    listener.shutdown()
    thread.join()
    listener.server_close()


def post(
    running: Running, body: bytes, token: str | None = TOKEN, path: str = "/events"
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(trust_env=False) as client:
        return client.post(f"{running.base}{path}", content=body, headers=headers)


def test_an_envelope_with_the_token_is_recorded_then_answered_200(running: Running) -> None:
    answer = post(running, ENVELOPE)
    assert (answer.status_code, answer.text) == (200, "recorded 1 event\n")
    [events] = running.sink.submitted
    assert [(e.action, e.repository, e.reference) for e in events] == [(Action.PULL, "app", "t1")]
    assert running.lines == [] and running.sink.refusals == 0


@pytest.mark.parametrize(
    ("token", "body", "path", "status", "line"),
    [
        (None, ENVELOPE, "/events", 401, "401 missing or wrong bearer token"),
        ("wrong", ENVELOPE, "/events", 401, "401 missing or wrong bearer token"),
        (TOKEN, b"x" * 5000, "/events", 413, "413 body of 5000 bytes, above the limit of 4096"),
        (TOKEN, b"{}", "/events", 400, '400 malformed envelope: not an envelope: expected {"e'),
        (TOKEN, b"not json", "/events", 400, "400 malformed envelope: not JSON"),
        (TOKEN, ENVELOPE, "/event", 404, "404 no such endpoint (events go to /events)"),
    ],
)
def test_a_refused_post_records_nothing_and_says_why_in_one_line(
    running: Running, token: str | None, body: bytes, path: str, status: int, line: str
) -> None:
    answer = post(running, body, token, path)
    assert answer.status_code == status
    assert running.sink.submitted == []
    assert running.sink.refusals == 1
    [reported] = running.lines
    assert reported.startswith(f"refused POST {path} from 127.0.0.1: {line}")


def test_a_chunked_body_is_refused_411_unread(running: Running) -> None:
    host, port = running.listener.server_address[:2]
    with socket.create_connection((str(host), port)) as raw:
        raw.sendall(
            b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
            + b"5\r\nhello\r\n0\r\n\r\n"
        )
        status_line = raw.recv(200).split(b"\r\n")[0]
    assert status_line == b"HTTP/1.1 411 Length Required"
    assert running.sink.submitted == []


def test_a_store_that_cannot_record_is_answered_503_so_the_registry_sends_again(
    running: Running,
) -> None:
    running.sink.broken = True
    answer = post(running, ENVELOPE)
    assert answer.status_code == 503
    assert running.lines == [
        "refused POST /events from 127.0.0.1: 503 cannot record events: disk I/O error"
    ]
    with httpx.Client(trust_env=False) as client:
        assert client.get(f"{running.base}/healthz").status_code == 503


def test_healthz_answers_without_a_token(running: Running) -> None:
    with httpx.Client(trust_env=False) as client:
        health = client.get(f"{running.base}/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        assert client.get(f"{running.base}/other").status_code == 404


def test_one_connection_carries_many_envelopes(running: Running) -> None:
    """The registry keeps its connection open: every envelope on it is answered."""
    with httpx.Client(trust_env=False, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for _ in range(5):
            assert client.post(f"{running.base}/events", content=ENVELOPE).status_code == 200
    assert len(running.sink.submitted) == 5
