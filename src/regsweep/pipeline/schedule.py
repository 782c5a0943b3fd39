"""Run a job on a cron schedule, one run at a time, until told to stop.

For ``regsweep listen --schedule``: docker compose has no scheduler, and a second
container running cron for one line is one more thing to keep alive, so the listener that
already runs beside the registry starts the nightly cleanup too (as regclient's regbot
does). Times are read by cronsim, in the listener's time zone (``TZ``; UTC in the image).

A run is never started while the previous one is still going: due times that pass during a
run are skipped and said, not queued up, so a run that overran does not start three more
at once. The wall clock is looked at again at least every minute, so a clock that was
set, or a host that slept, does not shift the schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cronsim import CronSim, CronSimError

from regsweep.pipeline.observer import Observer

#: Longest wait before the wall clock is read again.
RECHECK_SECONDS = 60.0


class Schedule:
    """A cron expression (``0 3 * * *``: every night at 03:00), checked when made."""

    def __init__(self, expression: str) -> None:
        try:
            CronSim(expression, datetime.now().astimezone())
        except CronSimError as exc:
            raise ValueError(f"{expression!r} is not a cron schedule: {exc}") from None
        self.expression = expression

    def next_after(self, moment: datetime) -> datetime:
        """The first time of the schedule strictly after ``moment`` (an aware datetime)."""
        return next(CronSim(self.expression, moment))


def run_on_schedule(
    schedule: Schedule,
    job: Callable[[], None],
    observer: Observer,
    *,
    wait: Callable[[float], bool],
    now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
) -> None:
    """Call ``job`` at every time of ``schedule`` until ``wait`` says to stop.

    ``wait(seconds)`` sleeps and returns True when the loop must end (a stop event's
    ``wait``); a job under way is never interrupted by it.
    """
    while True:
        due = schedule.next_after(now())
        observer.info(f"next cleanup at {due.isoformat(timespec='seconds')}")
        while (left := (due - now()).total_seconds()) > 0:
            if wait(min(left, RECHECK_SECONDS)):
                return
        job()
        finished = now()
        missed = 0
        upcoming = schedule.next_after(due)
        while upcoming <= finished:
            missed += 1
            upcoming = schedule.next_after(upcoming)
        if missed:
            observer.warn(
                f"the cleanup due at {due.isoformat(timespec='seconds')} ran past {missed} "
                "later due times; they were skipped, not queued"
            )
