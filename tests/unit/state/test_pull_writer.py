"""The listener's writer: events durable before submit returns; coverage only while heard."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.core.pulls import Action, Event, Span
from regsweep.state.pull_writer import GroupWriter, WriterStoppedError
from regsweep.state.pulls import NOTIFICATIONS, PullStore

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock that moves one second at each reading."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def pulled(tag: str) -> list[Event]:
    return [Event(Action.PULL, "app", tag, START)]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "pulls.sqlite"


@pytest.fixture
def writer(store_path: Path) -> Iterator[GroupWriter]:
    started = GroupWriter(store_path, clock=Clock())
    started.start()
    yield started
    started.close()


def spans(path: Path) -> list[tuple[float, float]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT since, until FROM coverage WHERE source = ? ORDER BY since", (NOTIFICATIONS,)
        )
        return [(since, until) for since, until in rows]


def test_submit_returns_once_the_events_are_committed(
    writer: GroupWriter, store_path: Path
) -> None:
    writer.submit(pulled("t1"))
    with sqlite3.connect(store_path) as other:  # another process's view
        assert other.execute("SELECT reference FROM facts").fetchall() == [("t1",)]


def test_many_threads_submitting_at_once_all_get_their_events_committed(
    writer: GroupWriter, store_path: Path
) -> None:
    threads = [threading.Thread(target=writer.submit, args=(pulled(f"t{i}"),)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with PullStore.open_existing(store_path) as store:
        assert len(store.history().pulls) == 40


def test_coverage_begins_with_the_first_accepted_event_and_a_refusal_ends_it(
    writer: GroupWriter, store_path: Path
) -> None:
    assert spans(store_path) == []  # started, but no proof yet that the registry sends
    writer.submit(pulled("t1"))
    writer.submit(pulled("t2"))
    writer.refused()
    writer.submit(pulled("t3"))
    writer.close()
    first, second = spans(store_path)
    assert first[1] - first[0] == 1.0  # from t1's commit to t2's: the refusal ended it
    assert second[0] > first[1]


def test_a_listener_restarted_on_a_store_the_registry_sent_to_resumes_at_once(
    store_path: Path,
) -> None:
    first = GroupWriter(store_path, clock=Clock())
    first.start()
    first.submit(pulled("t1"))
    first.close()
    later = Clock(START + timedelta(minutes=1))
    restarted = GroupWriter(store_path, clock=later, heartbeat=timedelta(milliseconds=20))
    restarted.start()
    deadline = time.monotonic() + 10
    while len(spans(store_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the heartbeat, with no event at all, extends the new period
    restarted.close()
    assert len(spans(store_path)) == 2


def test_events_the_store_cannot_take_are_never_acknowledged(
    writer: GroupWriter, store_path: Path
) -> None:
    with sqlite3.connect(store_path) as db:
        db.execute("DROP TABLE facts")
    with pytest.raises(WriterStoppedError, match="no such table: facts"):
        writer.submit(pulled("t1"))


def test_after_close_nothing_is_accepted(writer: GroupWriter, store_path: Path) -> None:
    writer.close()
    with pytest.raises(WriterStoppedError, match="stopping"):
        writer.submit(pulled("t1"))
    assert not writer.alive
    with PullStore.open_existing(store_path) as store:
        assert store.history().pulls == {}


def test_the_period_is_closed_at_the_stop(store_path: Path) -> None:
    clock = Clock()
    writer = GroupWriter(store_path, clock=clock)
    writer.start()
    writer.submit(pulled("t1"))
    writer.close()
    with PullStore.open_existing(store_path) as store:
        assert store.history().known == Span(START + timedelta(seconds=1), clock.now)
