"""``--metrics-file``: the run's Prometheus series, written however the command ends.

A run that fails or is refused must show in the file too (its exit code, the last success
left as it was): a file written only on success would keep reporting the last good night
while every run since has failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from regsweep.cli.settings import Settings
from regsweep.core.errors import EXIT_FAILED, EXIT_OK, OperationError, RegsweepError
from regsweep.pipeline.metrics import RunMetrics, RunOutcome, read_last_success
from regsweep.pipeline.report import RunReport

log = logging.getLogger("regsweep")


@contextmanager
def metrics_file(settings: Settings) -> Iterator[Callable[[RunReport], None]]:
    """Yield the function that records the run's report; write the file on the way out,
    with the exit code the command ends with."""
    path = settings.metrics_file
    reports: list[RunReport] = []
    if path is None:
        yield reports.append
        return
    started = time.monotonic()
    code = EXIT_OK
    try:
        yield reports.append
    except click.exceptions.Exit as exc:
        code = exc.exit_code
        raise
    except RegsweepError as exc:
        code = exc.exit_code
        raise
    except BaseException:
        code = EXIT_FAILED
        raise
    finally:
        registry = settings.registry_label()
        metrics = RunMetrics(read_last_success(path, registry))
        metrics.record(
            RunOutcome(
                registry,
                code,
                datetime.now(UTC),
                time.monotonic() - started,
                reports[-1] if reports else None,
            )
        )
        try:
            metrics.write_textfile(path)
        except OSError as exc:
            message = f"--metrics-file {path}: cannot write it: {exc}"
            if code == EXIT_OK:
                raise OperationError(message) from None
            log.error("%s", message)
