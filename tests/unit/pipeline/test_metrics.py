"""RunMetrics without a registry: what a run that never planned writes, and the first run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from regsweep.pipeline.metrics import RunMetrics, RunOutcome, read_last_success

WHEN = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def written(metrics: RunMetrics, path: Path) -> dict[str, float]:
    metrics.write_textfile(path)
    text = path.read_text()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_a_refused_first_run_writes_its_exit_code_and_no_success(tmp_path: Path) -> None:
    path = tmp_path / "r.prom"
    metrics = RunMetrics(read_last_success(path, "/srv/registry"))  # no file yet
    metrics.record(RunOutcome("/srv/registry", 2, WHEN, 0.5))
    assert written(metrics, path) == {
        "regsweep_last_run_timestamp_seconds": WHEN.timestamp(),
        "regsweep_last_run_exit_code": 2,
        "regsweep_last_run_duration_seconds": 0.5,
    }


def test_the_last_success_is_read_back_for_its_own_registry_only(tmp_path: Path) -> None:
    path = tmp_path / "r.prom"
    path.write_text(
        'regsweep_last_success_timestamp_seconds{registry="/a"} 1.7e9\n'
        'regsweep_last_success_timestamp_seconds{registry="/b"} 1.6e9\n'
    )
    assert read_last_success(path, "/b") == 1.6e9
    assert read_last_success(path, "/c") is None
    path.write_text("not { prometheus\n")
    assert read_last_success(path, "/a") is None
