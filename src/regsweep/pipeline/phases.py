"""The phases of a run and the seconds each took, for the run's report and its metrics.

A nightly run that takes ten times longer than usual (a registry grown past what its
storage lists quickly, a garbage collection crawling over S3) is a problem before it is
a failure; the time per phase says which step to look at.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum


class Phase(StrEnum):
    """The steps of a run, in order."""

    DISCOVER = "discover"
    PLAN = "plan"
    APPLY = "apply"
    COLLECT = "collect"
    VERIFY = "verify"


class PhaseTimer:
    """Adds up the wall-clock seconds spent in each phase."""

    def __init__(self) -> None:
        self.seconds: dict[Phase, float] = {}

    @contextmanager
    def phase(self, phase: Phase) -> Iterator[None]:
        """Time the block as ``phase`` (also when it raises)."""
        started = time.monotonic()
        try:
            yield
        finally:
            elapsed = time.monotonic() - started
            self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed
