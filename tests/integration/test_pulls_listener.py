"""``regsweep listen`` as a process: no acknowledged event lost to a SIGKILL, refusals with
no effect, a clean stop on SIGTERM, and bad settings refused before it listens."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import RegistryFactory
from tests.support.cli import clean_env, regsweep
from tests.support.images import Pusher
from tests.support.listener import ListenerProcess, notifications_to, recorded, wait_for
from tests.support.registry import free_port

DIGEST = "sha256:" + "cd" * 32
#: Threads posting at once to the listener that is killed.
CLIENTS = 4


def envelope(*tags: str) -> bytes:
    """An envelope of manifest pulls by tag, as the registry writes them."""
    return json.dumps(
        {
            "events": [
                {
                    "id": secrets.token_hex(8),
                    "timestamp": "2026-12-07T01:16:17.312491073Z",
                    "action": "pull",
                    "target": {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": DIGEST,
                        "repository": "app",
                        "tag": tag,
                    },
                    "request": {"method": "GET", "useragent": "containerd/1.7"},
                }
                for tag in tags
            ]
        },
        indent=3,
    ).encode()


def listener(tmp_path: Path, port: int = 0) -> tuple[ListenerProcess, str]:
    token = secrets.token_hex(16)
    token_file = tmp_path / "token"
    if not token_file.exists():
        token_file.write_text(token)
    token = token_file.read_text()
    process = ListenerProcess(
        tmp_path / "pulls.sqlite",
        token_file,
        clean_env(tmp_path / "state"),
        tmp_path / "listen.log",
        port,
    )
    return process, token


def test_a_listener_killed_and_restarted_loses_no_acknowledged_event(tmp_path: Path) -> None:
    first, token = listener(tmp_path)
    acknowledged: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(trust_env=False, headers=headers, timeout=5) as http:
            for i in range(100_000):
                if stop.is_set():
                    return
                tag = f"c{number}-{i}"
                try:
                    answer = http.post(first.url, content=envelope(tag))
                except httpx.TransportError:
                    return  # killed mid-request: not acknowledged
                if answer.status_code == 200:
                    with lock:
                        acknowledged.add(tag)

    with first:
        first.start()
        clients = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in clients:
            thread.start()
        wait_for(lambda: len(acknowledged) >= 200, what="200 acknowledged envelopes")
        # Hold the store's write lock: commits stall, so a listener that answered before
        # committing would go on acknowledging what it then loses to the kill below.
        with sqlite3.connect(tmp_path / "pulls.sqlite", isolation_level=None) as blocker:
            blocker.execute("BEGIN IMMEDIATE")
            stalled = len(acknowledged)
            time.sleep(1)
            first.kill()  # while the clients are still posting
            blocker.execute("ROLLBACK")
        stop.set()
        for thread in clients:
            thread.join()

    with listener(tmp_path, first.port)[0] as restarted:
        restarted.start()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(trust_env=False, headers=headers) as http:
            assert http.post(restarted.url, content=envelope("after")).status_code == 200
        assert restarted.terminate() == 0

    stored = {tag for _, tag in recorded(tmp_path / "pulls.sqlite")}
    assert len(acknowledged) >= 200
    # while nothing could commit, only the answers already on their way arrived: one a client
    assert len(acknowledged) - stalled <= CLIENTS
    assert acknowledged <= stored
    assert "after" in stored


def test_events_sent_while_the_listener_was_down_arrive_once_it_is_back(
    tmp_path: Path, registry_factory: RegistryFactory
) -> None:
    port = free_port()
    first, token = listener(tmp_path, port)
    db = tmp_path / "pulls.sqlite"
    with first:
        first.start()
        registry = registry_factory(notifications_to(first.url, token))
        with Pusher(registry.url) as pusher:
            for n in range(6):
                pusher.push_image("app", f"t{n}")
            for n in range(3):
                pusher.get_manifest("app", f"t{n}")
            wait_for(lambda: len(recorded(db)) == 3, what="the first three pulls")
            first.kill()
            for n in range(3, 6):  # the registry keeps these and sends them again
                pusher.get_manifest("app", f"t{n}")
    with listener(tmp_path, port)[0] as restarted:
        restarted.start()
        wait_for(lambda: len(recorded(db)) == 6, what="the pulls made while it was down")
        assert restarted.terminate() == 0
    assert set(recorded(db)) == {("app", f"t{n}") for n in range(6)}


def test_malformed_oversized_and_unauthenticated_posts_are_refused_without_effect(
    tmp_path: Path,
) -> None:
    process, token = listener(tmp_path)
    with process:
        process.start()
        refused = {
            "no token": (None, envelope("a"), 401),
            "wrong token": ("not-the-token", envelope("b"), 401),
            "malformed": (token, b'{"events": [{"action": "pull"}]}', 400),
            "not JSON": (token, b"<html></html>", 400),
            "oversized": (token, envelope(*(f"t{n}" for n in range(3000))), 413),
        }
        with httpx.Client(trust_env=False) as http:
            for name, (sent, body, status) in refused.items():
                headers = {"Authorization": f"Bearer {sent}"} if sent else {}
                answer = http.post(process.url, content=body, headers=headers)
                assert answer.status_code == status, name
            assert recorded(tmp_path / "pulls.sqlite") == {}
            accepted = http.post(
                process.url, content=envelope("ok"), headers={"Authorization": f"Bearer {token}"}
            )
            assert accepted.status_code == 200
        assert process.terminate() == 0
    assert set(recorded(tmp_path / "pulls.sqlite")) == {("app", "ok")}
    lines = [line for line in process.log().splitlines() if "refused" in line]
    assert len(lines) == len(refused)
    assert "401 missing or wrong bearer token" in lines[0]
    assert "400 malformed envelope: events[0]: no target object" in lines[2]
    assert "413 body of" in lines[4] and "(--max-body)" in lines[4]
    assert "stopped; every acknowledged event is in the pull store" in process.log()


def test_bad_listen_settings_are_one_line_and_exit_2(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "state")
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    cases = {
        (): "listen needs an address: --address HOST:PORT (LISTEN_ADDRESS)",
        ("--address", "5050"): "is not HOST:PORT",
        ("--address", "127.0.0.1:5050", "--token-file", str(empty)): "expected one token",
        ("--address", "127.0.0.1:5050", "--token-file", str(tmp_path / "missing")): (
            "cannot read it"
        ),
    }
    for args, message in cases.items():
        done = regsweep("listen", *args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    process, _ = listener(tmp_path)
    with process:
        process.start()
        busy = regsweep("listen", "--address", f"127.0.0.1:{process.port}", env=env)
    assert busy.returncode == 2
    assert "cannot listen on 127.0.0.1" in busy.stderr and "(--address)" in busy.stderr
