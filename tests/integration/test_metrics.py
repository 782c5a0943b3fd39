"""``--metrics-file``: the run's real figures, parsed back with prometheus-client's parser."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import clean_env, local_gc, regsweep
from tests.support.damage import inject
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the file: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }


def test_the_metrics_file_carries_the_runs_figures_and_keeps_the_last_success_on_failure(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    scenario = build_scenario(pusher, registry.root)
    metrics = tmp_path / "regsweep.prom"
    args = ["--registry-dir", str(registry.root), *local_gc(registry)]
    args += ["--metrics-file", str(metrics)]

    started = time.time()
    done = regsweep("run", *args, "--output", "json", env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    first = samples(metrics)

    label = (("registry", str(registry.root)),)

    def value(name: str, labels: tuple[tuple[str, str], ...] = label) -> float:
        return first[(name, labels)]

    assert value("regsweep_last_run_exit_code") == 0
    assert value("regsweep_last_run_tags_deleted") == len(scenario.deleted_tags) > 0
    assert value("regsweep_last_run_manifests_deleted") == len(scenario.deleted_manifests)
    freed = report["storage_bytes_before"] - report["storage_bytes_after"]
    assert value("regsweep_last_run_freed_bytes") == freed > 0
    assert value("regsweep_last_run_dry_run") == 0
    assert value("regsweep_last_run_repositories_skipped") == 0
    success = value("regsweep_last_success_timestamp_seconds")
    assert started <= success == value("regsweep_last_run_timestamp_seconds") <= time.time()
    phases = {
        dict(labels)["phase"]: seconds
        for (name, labels), seconds in first.items()
        if name == "regsweep_last_run_phase_duration_seconds"
    }
    assert set(phases) == {"discover", "plan", "apply", "collect", "verify"}
    assert all(abs(phases[p] - report["phases"][p]) < 0.001 for p in phases)
    assert sum(phases.values()) <= value("regsweep_last_run_duration_seconds")

    # the next night the in-use command fails: refused, exit 2, the last success stays
    failing = [sys.executable, "-c", "raise SystemExit(1)"]
    again = regsweep(
        "run",
        *args,
        "--registry-host",
        registry.host,
        "--in-use-command",
        " ".join(failing),
        env=clean_env(tmp_path),
    )
    assert again.returncode == 2
    second = samples(metrics)
    assert second[("regsweep_last_run_exit_code", label)] == 2
    assert second[("regsweep_last_success_timestamp_seconds", label)] == success
    assert second[("regsweep_last_run_timestamp_seconds", label)] > success
    # a refused run planned nothing: no deletion figures at all rather than zeros
    assert ("regsweep_last_run_tags_deleted", label) not in second
    assert not list(tmp_path.glob("regsweep.prom.*"))  # the temporary file was renamed


def test_a_metrics_file_the_collector_would_not_read_is_refused(
    registry: RegistryServer, tmp_path: Path
) -> None:
    for path, message in [
        (tmp_path / "regsweep.txt", "ending in .prom"),
        (tmp_path / "missing" / "regsweep.prom", "does not exist"),
    ]:
        done = regsweep(
            "run",
            "--registry-dir",
            str(registry.root),
            "--metrics-file",
            str(path),
            env=clean_env(tmp_path),
        )
        assert done.returncode == 2
        assert message in done.stderr and "metrics_file" in done.stderr
        assert not path.exists()


def test_a_run_that_skips_a_damaged_repository_counts_it_and_status_names_it(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)
    inject(registry.root, "tools/ci/runner", "tag-link-empty", outside=tmp_path / "outside")
    metrics = tmp_path / "regsweep.prom"
    where = ["--registry-dir", str(registry.root)]
    env = clean_env(tmp_path)

    done = regsweep("run", *where, *local_gc(registry), "--metrics-file", str(metrics), env=env)
    status = json.loads(regsweep("status", *where, "--output", "json", env=env).stdout)

    assert done.returncode == 1, done.stderr  # done, except the repository listed
    label = (("registry", str(registry.root)),)
    written = samples(metrics)
    assert written[("regsweep_last_run_repositories_skipped", label)] == 1
    assert written[("regsweep_last_run_exit_code", label)] == 1
    assert written[("regsweep_last_run_tags_deleted", label)] > 0  # the others were cleaned
    assert ("regsweep_last_success_timestamp_seconds", label) not in written
    (run,) = status["runs"]
    assert run["skipped_repositories"] == ["tools/ci/runner"]
