"""How the use cases report progress without owning a screen.

The command line passes its terminal (spinners and bars on stderr); a library user passes
nothing and gets the same messages through :mod:`logging`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from regsweep.collect.native import GcReport
from regsweep.collect.registry import GcResult

log = logging.getLogger("regsweep")

#: Updates the text of a long step's status line.
StatusUpdate = Callable[[str], None]


class Observer(Protocol):
    """Receives what a use case has to say while it works."""

    def info(self, message: str) -> None:
        """A line of status."""
        ...

    def warn(self, message: str) -> None:
        """Something the user should know; the work goes on."""
        ...

    def error(self, message: str) -> None:
        """Something that failed; the report says so too."""
        ...

    def status(self, message: str) -> AbstractContextManager[StatusUpdate | None]:
        """A long step; yields a function that updates its text, or None."""
        ...

    def progress(
        self, description: str, *, total: int
    ) -> AbstractContextManager[Callable[[], None]]:
        """A counted step; yields the function that advances it by one."""
        ...

    def collected(self, report: GcResult | GcReport) -> None:
        """A garbage collection (or its dry run) ended with this report."""
        ...


class LoggingObserver:
    """The observer of library use: every message goes to the ``regsweep`` logger."""

    def info(self, message: str) -> None:
        log.info("%s", message)

    def warn(self, message: str) -> None:
        log.warning("%s", message)

    def error(self, message: str) -> None:
        log.error("%s", message)

    @contextmanager
    def status(self, message: str) -> Iterator[StatusUpdate | None]:
        log.info("%s", message)
        yield None

    @contextmanager
    def progress(self, description: str, *, total: int) -> Iterator[Callable[[], None]]:
        yield lambda: None

    def collected(self, report: GcResult | GcReport) -> None:
        if isinstance(report, GcResult):
            log.info("%s", report.describe())
        else:
            log.info("native garbage collection: %s", report.to_json())
