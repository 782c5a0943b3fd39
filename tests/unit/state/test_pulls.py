"""The pull store: SQLite in WAL mode, versioned, keeping the latest fact of each kind."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.core.errors import UsageError
from regsweep.core.model import parse_digest
from regsweep.core.pulls import Action, Event, Fact, Span
from regsweep.state.pulls import MIGRATIONS, PullStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DIGEST = parse_digest("sha256:" + "ab" * 32)


def pull(tag: str, minutes_ago: int) -> Event:
    return Event(Action.PULL, "team/app", tag, NOW - timedelta(minutes=minutes_ago), DIGEST)


def test_a_new_store_is_owner_only_in_wal_mode_at_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "state" / "pulls.sqlite"
    PullStore.create(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    PullStore.create(path).close()  # opening it again migrates nothing


def test_the_latest_fact_is_kept_and_recording_it_again_changes_nothing(tmp_path: Path) -> None:
    with PullStore.create(tmp_path / "p.sqlite") as store:
        with store.transaction():
            store.record([pull("t1", 10), pull("t1", 5), pull("t1", 20)], "notifications")
        with store.transaction():
            store.record([pull("t1", 30)], "access log /var/log/registry.log")
            store.record([pull("t1", 5)], "access log /var/log/registry.log")
        history = store.history()
    assert history.pulls == {
        ("team/app", "t1"): Fact(NOW - timedelta(minutes=5), "notifications", "t1", DIGEST)
    }
    assert history.pushes == history.deletes == {}


def test_coverage_is_extended_never_shortened_and_read_as_one_span(tmp_path: Path) -> None:
    with PullStore.create(tmp_path / "p.sqlite") as store:
        assert not store.has_coverage("notifications")
        with store.transaction():
            store.cover("notifications", Span(NOW - timedelta(days=3), NOW - timedelta(days=1)))
            store.cover("notifications", Span(NOW - timedelta(days=3), NOW))
            store.cover("notifications", Span(NOW - timedelta(days=3), NOW - timedelta(days=2)))
            store.cover("access log x", Span(NOW - timedelta(days=9), NOW - timedelta(days=3)))
        assert store.has_coverage("notifications")
        assert store.history().known == Span(NOW - timedelta(days=9), NOW)


def test_a_failed_transaction_records_nothing(tmp_path: Path) -> None:
    with PullStore.create(tmp_path / "p.sqlite") as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.record([pull("t1", 1)], "notifications")
            raise RuntimeError("the request failed half way")
        assert store.history().pulls == {}


def test_reading_a_missing_store_is_refused_naming_the_flag(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no pull store at .*missing.sqlite \(--pulls-db\)"):
        PullStore.open_existing(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


def test_a_file_that_is_not_a_pull_store_or_is_from_a_newer_regsweep_is_refused(
    tmp_path: Path,
) -> None:
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).close()
    with pytest.raises(UsageError, match="not a regsweep pull store"):
        PullStore.open_existing(other)
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    with pytest.raises(UsageError, match=r"notes.txt \(--pulls-db\): file is not a database"):
        PullStore.open_existing(text)
    newer = tmp_path / "newer.sqlite"
    PullStore.create(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    for opened in (PullStore.open_existing, PullStore.create):
        with pytest.raises(UsageError, match="newer than this regsweep reads"):
            opened(newer)
