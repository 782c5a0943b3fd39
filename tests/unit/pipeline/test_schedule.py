"""The cron loop on a fake clock: when jobs start, one at a time, and how it stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from regsweep.pipeline.observer import LoggingObserver
from regsweep.pipeline.schedule import Schedule, run_on_schedule

START = datetime(2026, 6, 1, 1, 30, tzinfo=UTC)


class FakeClock:
    """Time moves only when the loop waits or a job takes its time."""

    def __init__(self, *, stop_after_jobs: int, job_takes: timedelta = timedelta()) -> None:
        self.now = START
        self.started: list[datetime] = []
        self.waits: list[float] = []
        self.stop_after_jobs = stop_after_jobs
        self.job_takes = job_takes

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        if len(self.started) >= self.stop_after_jobs:
            return True
        self.now += timedelta(seconds=seconds)
        return False

    def job(self) -> None:
        self.started.append(self.now)
        self.now += self.job_takes


def test_jobs_start_at_each_due_time_and_the_loop_stops_when_told() -> None:
    clock = FakeClock(stop_after_jobs=2)
    run_on_schedule(
        Schedule("0 3 * * *"), clock.job, LoggingObserver(), wait=clock.wait, now=lambda: clock.now
    )
    assert clock.started == [
        START.replace(hour=3, minute=0),
        START.replace(day=2, hour=3, minute=0),
    ]
    assert max(clock.waits) <= 60  # the wall clock is read again every minute


def test_a_run_longer_than_the_interval_skips_the_times_it_covered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(stop_after_jobs=2, job_takes=timedelta(minutes=25))
    run_on_schedule(
        Schedule("*/10 * * * *"),
        clock.job,
        LoggingObserver(),
        wait=clock.wait,
        now=lambda: clock.now,
    )
    first, second = clock.started
    assert first == START.replace(minute=40)
    # 01:40 ran until 02:05: 01:50 and 02:00 were skipped, the next run is 02:10
    assert second == START.replace(hour=2, minute=10)
    assert "ran past 2 later due times" in caplog.text


@pytest.mark.parametrize("expression", ["61 * * * *", "every night", ""])
def test_a_bad_expression_is_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="not a cron schedule"):
        Schedule(expression)
