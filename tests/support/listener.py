"""``regsweep listen`` as a real process on loopback, the registry config that sends to it,
and reads of the pull store it writes."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.support.registry import LOOPBACK, stop_pid, wait_until_ready

_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+)/events)")


def notifications_to(url: str, token: str) -> dict[str, Any]:
    """Registry config (``extra_config``) sending every event to ``url`` with the token,
    retried every second until answered 2xx."""
    return {
        "notifications": {
            "endpoints": [
                {
                    "name": "regsweep",
                    "url": url,
                    "headers": {"Authorization": [f"Bearer {token}"]},
                    "timeout": "2s",
                    "threshold": 5,
                    "backoff": "1s",
                }
            ]
        }
    }


class ListenerProcess:
    """``python -m regsweep listen`` on 127.0.0.1 (port 0: the kernel picks one, read back
    from its first line), stopped by its own pid."""

    def __init__(
        self,
        db: Path,
        token_file: Path,
        env: dict[str, str],
        log: Path,
        port: int = 0,
        args: Sequence[str] = (),
    ) -> None:
        self.db, self.token_file, self.env, self.log_path = db, token_file, env, log
        self.port = port
        #: more flags of ``regsweep listen`` (``--schedule``, ``--metrics-file``)
        self.args = tuple(args)
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 20.0) -> ListenerProcess:
        self._log = self.log_path.open("ab")
        offset = self.log_path.stat().st_size
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "regsweep",
                "listen",
                "--address",
                f"{LOOPBACK}:{self.port}",
                "--token-file",
                str(self.token_file),
                "--pulls-db",
                str(self.db),
                *self.args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while not self.url:
            found = _LISTENING.search(self.log_path.read_bytes()[offset:].decode(errors="replace"))
            if found:
                self.url, self.port = found.group(1), int(found.group(2))
            elif self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"regsweep listen did not start:\n{self.log()}")
            else:
                time.sleep(0.05)
        wait_until_ready(
            self.url.removesuffix("/events"),
            timeout,
            alive=lambda: self._process is not None and self._process.poll() is None,
            probe="/healthz",
            ready=(200,),
        )
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crash or the OOM killer would stop it."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait()
        self._close_log()

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait: the exit status of a clean stop."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        code = self._process.wait(timeout)
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ListenerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            stop_pid(self._process.pid, 10.0)
            self._process.wait()
        self._close_log()


def recorded(db: Path, action: str = "pull") -> dict[tuple[str, str], str]:
    """(repository, tag or digest) -> source of every fact of ``action`` in the store."""
    with sqlite3.connect(db) as store:
        rows = store.execute(
            "SELECT repository, reference, source FROM facts WHERE action = ?", (action,)
        )
        return {(repository, reference): source for repository, reference, source in rows}


def all_facts(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as store:
        return sorted(store.execute("SELECT * FROM facts").fetchall()) + sorted(
            store.execute("SELECT * FROM coverage").fetchall()
        )


def age_pull_store(db: Path, by: timedelta) -> None:
    """Make the store look as if it began ``by`` earlier, as tests age tags by their link
    mtimes: the listener cannot be run for a week in a test."""
    with sqlite3.connect(db) as store:
        store.execute("UPDATE coverage SET since = since - ?", (by.total_seconds(),))


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "it") -> None:
    """Poll ``condition`` until true; the registry delivers its events within a second or
    two, and retries unacknowledged ones every second."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
