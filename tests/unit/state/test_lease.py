"""The lock's lease: locks from other hosts expire, holders renew, a lost lock fails the run."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.core.errors import OperationError
from regsweep.sources.storage.local import LocalStore
from regsweep.state import lease
from regsweep.state.lock import LOCK, StorageLockedError, storage_lock

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def elsewhere(root: Path, expires: datetime | None) -> Path:
    """A lock written by a regsweep on another machine, with its lease ending at ``expires``."""
    lock = root / LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder: dict[str, object] = {"pid": 1, "host": "elsewhere", "pidns": "x", "since": "then"}
    if expires is not None:
        holder["expires"] = expires.isoformat()
    lock.write_text(json.dumps(holder))
    return lock


def test_a_lock_from_another_host_is_taken_over_once_its_lease_ran_out(tmp_path: Path) -> None:
    elsewhere(tmp_path, datetime.now(UTC) - lease.CLOCK_SKEW - timedelta(seconds=5))

    with storage_lock(LocalStore(tmp_path), now=NOW, command="gc"):
        holder = json.loads((tmp_path / LOCK).read_text())
        assert holder["host"] != "elsewhere" and holder["command"] == "gc"
        assert datetime.fromisoformat(holder["expires"]) > datetime.now(UTC)
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize(
    "left",
    [
        timedelta(minutes=5),  # still held
        -lease.CLOCK_SKEW + timedelta(seconds=30),  # ran out, but within the clock skew
        None,  # no lease: an older regsweep, never taken over
    ],
)
def test_a_lock_whose_lease_may_still_run_is_kept(tmp_path: Path, left: timedelta | None) -> None:
    lock = elsewhere(tmp_path, None if left is None else datetime.now(UTC) + left)
    before = lock.read_bytes()

    with (
        pytest.raises(StorageLockedError, match="pid 1 on elsewhere since then"),
        storage_lock(LocalStore(tmp_path), now=NOW, command="gc"),
    ):
        pytest.fail("entered a held lock")

    assert lock.read_bytes() == before


def test_the_holder_renews_its_lease(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease, "RENEW_EVERY", timedelta(seconds=0.05))
    with storage_lock(LocalStore(tmp_path), now=NOW, command="gc"):
        first = json.loads((tmp_path / LOCK).read_text())["expires"]
        time.sleep(0.3)
        renewed = json.loads((tmp_path / LOCK).read_text())

    assert renewed["expires"] > first and renewed["command"] == "gc"


def test_a_lock_taken_over_meanwhile_is_left_to_its_new_holder_and_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lease, "RENEW_EVERY", timedelta(seconds=0.05))
    lock = tmp_path / LOCK

    with (
        pytest.raises(OperationError, match="taken over while this regsweep worked"),
        storage_lock(LocalStore(tmp_path), now=NOW, command="gc"),
    ):
        elsewhere(tmp_path, datetime.now(UTC) + timedelta(minutes=10))
        taken = lock.read_bytes()
        time.sleep(0.3)

    assert lock.read_bytes() == taken  # neither renewed over nor deleted
