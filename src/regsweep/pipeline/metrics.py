"""A run as Prometheus series: for node_exporter's textfile collector, or a ``/metrics`` page.

Nobody watches a nightly cleanup. What tells that it stopped working is a metric: the time
of the last successful run (alert when it is older than two nights), the exit code of the
last one, what it deleted and freed, and how long each phase took. Every figure is read from
the run's :class:`~regsweep.pipeline.report.RunReport`; the format is prometheus-client's.

Series that a run does not know are left out rather than written as 0: bytes freed are
measured only where regsweep reads the storage, and a run stopped before it ran (refused,
braked, locked out) has only its exit code and its time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from regsweep.apply.outcome import Outcome
from regsweep.pipeline.report import RunReport
from regsweep.plan.planner import ActionKind

#: The series telling when the last run that succeeded ended; kept across failed runs.
LAST_SUCCESS = "regsweep_last_success_timestamp_seconds"


@dataclass(frozen=True)
class RunOutcome:
    """How one ``run`` or ``apply`` ended, as its metrics tell it."""

    #: the registry, as the ``registry`` label names it (its storage, else its URL)
    registry: str
    exit_code: int
    finished_at: datetime
    #: wall-clock seconds of the whole command
    seconds: float
    #: None when the run stopped before it had one (refused, locked, failed early)
    report: RunReport | None = None

    @property
    def succeeded(self) -> bool:
        """A real run (not a dry run) that ended with exit 0."""
        return self.exit_code == 0 and self.report is not None and not self.report.dry_run


class RunMetrics:
    """The series of the last run of one registry (a prometheus-client collector).

    ``last_success`` survives failed runs: it is what an alert on "no successful cleanup
    for two days" reads.
    """

    def __init__(self, last_success: float | None = None) -> None:
        self.outcome: RunOutcome | None = None
        self.last_success = last_success

    def record(self, outcome: RunOutcome) -> None:
        """Make ``outcome`` the last run."""
        self.outcome = outcome
        if outcome.succeeded:
            self.last_success = outcome.finished_at.timestamp()

    def collect(self) -> Iterator[Metric]:
        """The series, in the prometheus-client collector protocol."""
        outcome = self.outcome
        if outcome is None:
            return
        registry = outcome.registry
        yield _gauge(
            "regsweep_last_run_timestamp_seconds",
            "When the last run ended (Unix time).",
            registry,
            outcome.finished_at.timestamp(),
        )
        yield _gauge(
            "regsweep_last_run_exit_code",
            "Exit code of the last run: 0 done, 1 failed part way, 2 refused (nothing changed).",
            registry,
            outcome.exit_code,
        )
        yield _gauge(
            "regsweep_last_run_duration_seconds",
            "Wall-clock seconds of the last run.",
            registry,
            outcome.seconds,
        )
        if self.last_success is not None:
            yield _gauge(
                LAST_SUCCESS,
                "When the last successful run ended (Unix time).",
                registry,
                self.last_success,
            )
        if outcome.report is not None:
            yield from _report_series(outcome.report, registry)

    def write_textfile(self, path: Path) -> None:
        """Write the series to ``path`` atomically (a temporary file renamed over it), so
        the textfile collector never reads half a file."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        write_to_textfile(str(path), registry)


def _gauge(name: str, help_text: str, registry: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=["registry"])
    family.add_metric([registry], value)
    return family


def _report_series(report: RunReport, registry: str) -> Iterator[Metric]:
    """The series only a run that planned has."""
    applied = report.apply
    yield _gauge(
        "regsweep_last_run_dry_run",
        "1 when the last run was a dry run.",
        registry,
        int(report.dry_run),
    )
    yield _gauge(
        "regsweep_last_run_tags_deleted",
        "Tags the last run deleted.",
        registry,
        applied.count(Outcome.DELETED, ActionKind.UNTAG) if applied else 0,
    )
    yield _gauge(
        "regsweep_last_run_manifests_deleted",
        "Manifests the last run deleted.",
        registry,
        applied.count(Outcome.DELETED, ActionKind.DELETE_MANIFEST) if applied else 0,
    )
    yield _gauge(
        "regsweep_last_run_repositories_skipped",
        "Repositories the last run left alone because discovery could not read them whole.",
        registry,
        len(report.skipped),
    )
    if report.storage is not None:
        yield _gauge(
            "regsweep_last_run_freed_bytes",
            "Bytes the last run's garbage collection took out of the storage.",
            registry,
            report.storage.freed,
        )
    phases = GaugeMetricFamily(
        "regsweep_last_run_phase_duration_seconds",
        "Seconds each phase of the last run took.",
        labels=["registry", "phase"],
    )
    for phase, seconds in report.phases.items():
        phases.add_metric([registry, phase.value], seconds)
    yield phases


def read_last_success(path: Path, registry: str) -> float | None:
    """The last success time written in an earlier metrics file of ``registry``, or None.

    A missing or unreadable file is a first run: the series then starts with this one.
    """
    try:
        text = path.read_text(encoding="utf-8")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS and sample.labels.get("registry") == registry:
                    return float(sample.value)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return None
