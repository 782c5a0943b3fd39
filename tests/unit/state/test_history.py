"""The run history in SQLite: what is recorded is read back, the oldest runs go, and a file
that is not a history (or a symlink) is one clear error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.core.errors import OperationError, UsageError
from regsweep.plan.file import RegistryIdentity
from regsweep.plan.history import History, PastRun
from regsweep.state.history import KEEP_RUNS, default_history_path, load_history, record_run
from regsweep.state.journal import default_journal_path

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def run(day: int, cleaned: set[str]) -> PastRun:
    at = WHEN + timedelta(days=day)
    return PastRun(
        at, at - timedelta(minutes=1), 10, day, frozenset({"a", "b"}), frozenset(cleaned)
    )


def test_a_registry_s_history_sits_beside_its_journal() -> None:
    registry = RegistryIdentity("/var/lib/registry", None)
    journal = default_journal_path(registry)
    assert default_history_path(registry) == journal.with_name(journal.stem + ".history.sqlite")


def test_runs_come_back_as_recorded_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "state" / "h.sqlite"
    assert load_history(path) == History()
    record_run(path, run(1, {"a"}))
    record_run(path, run(2, {"a", "b"}))

    history = load_history(path)

    assert history.runs == (run(1, {"a"}), run(2, {"a", "b"}))
    assert history.last_cleaning("b") == run(2, {"a", "b"})
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)


def test_only_the_last_runs_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    for day in range(KEEP_RUNS + 3):
        record_run(path, run(day, {"a"}))
    runs = load_history(path).runs
    assert len(runs) == KEEP_RUNS and runs[0] == run(3, {"a"})


def test_a_file_that_is_no_history_is_one_error_naming_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"not a database, not even close" * 100)
    with pytest.raises(UsageError, match="move it away to start a new one"):
        load_history(path)
    with pytest.raises(OperationError, match="move it away"):
        record_run(path, run(1, set()))


def test_a_symlinked_history_is_never_opened(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.sqlite"
    record_run(elsewhere, run(1, {"a"}))
    path = tmp_path / "h.sqlite"
    path.symlink_to(elsewhere)
    with pytest.raises(UsageError):
        load_history(path)
    with pytest.raises(OperationError):
        record_run(path, run(2, {"a"}))
    assert len(load_history(elsewhere).runs) == 1
