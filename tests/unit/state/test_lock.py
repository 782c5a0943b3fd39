"""The registry lock: one holder, re-entrant in a process, stale locks of dead regsweeps only."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from regsweep.sources.storage.local import LocalStore
from regsweep.state.lock import LOCK, StorageLockedError, registry_lock, storage_lock
from tests.support.lock_holders import live_process, this_machine

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def held_by(root: Path, **holder: object) -> Path:
    lock = root / LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"since": "then", **holder}))
    return lock


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_the_lock_is_held_while_the_block_runs_and_leaves_no_trace(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with storage_lock(store, now=NOW, command="run"):
        holder = json.loads((tmp_path / LOCK).read_text())
        assert holder["pid"] == os.getpid() and holder["command"] == "run"
        with storage_lock(store, now=NOW, command="gc"):  # re-entrant: run --gc native
            assert (tmp_path / LOCK).exists()
        assert (tmp_path / LOCK).exists()  # the inner release did not drop it
    assert not (tmp_path / "regsweep").exists()


def test_a_live_holder_keeps_a_second_one_out_and_nothing_is_written(tmp_path: Path) -> None:
    with live_process() as pid:
        lock = held_by(tmp_path, pid=pid, command="run", **this_machine())
        before = lock.read_bytes()
        with (
            pytest.raises(StorageLockedError, match=rf"regsweep run, pid {pid} on "),
            storage_lock(LocalStore(tmp_path), now=NOW, command="gc"),
        ):
            pytest.fail("entered a held lock")
        assert lock.read_bytes() == before
        assert sorted(p.name for p in lock.parent.iterdir()) == ["lock"]


def test_the_lock_of_a_regsweep_that_died_here_is_taken_over(tmp_path: Path) -> None:
    held_by(tmp_path, pid=dead_pid(), command="run", **this_machine())
    with storage_lock(LocalStore(tmp_path), now=NOW, command="run"):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
        assert not (tmp_path / f"{LOCK}.takeover").exists()
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize(
    "holder",
    [
        {"pid": 0, "host": "another-host", "pidns": "pid:[1]"},  # another machine
        {"pid": 0, "host": socket.gethostname(), "pidns": "pid:[0]"},  # another container
        {"pid": "12", "host": socket.gethostname()},  # not ours: written by something else
        None,  # not JSON
    ],
)
def test_a_lock_from_elsewhere_or_unreadable_is_never_taken_over(
    tmp_path: Path, holder: dict[str, object] | None
) -> None:
    lock = tmp_path / LOCK
    lock.parent.mkdir(parents=True)
    if holder is None:
        lock.write_bytes(b"\x00garbage")
    else:
        if holder["pid"] == 0:
            holder["pid"] = dead_pid()
        lock.write_text(json.dumps(holder))
    before = lock.read_bytes()
    with (
        pytest.raises(StorageLockedError, match=f"delete {LOCK} in {tmp_path}"),
        storage_lock(LocalStore(tmp_path), now=NOW, command="run"),
    ):
        pytest.fail("entered a held lock")
    assert lock.read_bytes() == before


def test_a_takeover_in_progress_keeps_a_second_taker_out(tmp_path: Path) -> None:
    lock = held_by(tmp_path, pid=dead_pid(), command="run", **this_machine())
    (tmp_path / f"{LOCK}.takeover").write_text("{}")
    with (
        pytest.raises(StorageLockedError),
        storage_lock(LocalStore(tmp_path), now=NOW, command="gc"),
    ):
        pytest.fail("entered a held lock")
    assert lock.exists()


def test_api_mode_locks_in_the_state_folder_by_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    locks = tmp_path / "regsweep" / "locks"
    with registry_lock(None, "http://127.0.0.1:1", now=NOW, command="run"):
        (lock,) = locks.iterdir()
        assert lock.stat().st_mode & 0o022 == 0
        with registry_lock(None, "http://127.0.0.1:2", now=NOW, command="run"):
            assert len(list(locks.iterdir())) == 2  # another registry: another lock
    assert not locks.exists()

    with live_process() as pid:
        lock.parent.mkdir(parents=True)
        lock.write_text(json.dumps({"pid": pid, "since": "then", **this_machine()}))
        with (
            pytest.raises(StorageLockedError, match=re.escape("working on http://127.0.0.1:1 ")),
            registry_lock(None, "http://127.0.0.1:1", now=NOW, command="run"),
        ):
            pytest.fail("entered a held lock")


def test_under_umask_000_the_lock_and_its_folder_are_not_writable_by_others(
    tmp_path: Path,
) -> None:
    """Anyone who can write the lock can block every run, or pass for a live holder."""
    previous = os.umask(0)
    try:
        with storage_lock(LocalStore(tmp_path), now=NOW, command="run"):
            modes = [(tmp_path / p).stat().st_mode & 0o777 for p in ("regsweep", LOCK)]
    finally:
        os.umask(previous)
    assert modes == [0o755, 0o644]
