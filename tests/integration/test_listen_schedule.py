"""``regsweep listen``: the cleanup on a cron schedule, and the last run's series on /metrics."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import httpx
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import clean_env, regsweep
from tests.support.images import Pusher
from tests.support.listener import ListenerProcess, wait_for
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario


def metrics_of(listener: ListenerProcess) -> httpx.Response:
    return httpx.get(listener.url.removesuffix("/events") + "/metrics", timeout=10)


def values(text: str) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(secrets.token_hex(16))
    return path


def test_listen_runs_the_cleanup_on_its_schedule_and_serves_its_metrics(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    scenario = build_scenario(pusher, registry.root)
    env = clean_env(
        tmp_path,
        {
            # the scheduled run's settings come from the listener's environment
            "REGISTRY_DIR": str(registry.root),
            "GC_COMMAND": "docker-registry garbage-collect {config}",
            "DOCKER_REGISTRY_CONFIG": str(registry.config_path),
            "RESTART": "false",
        },
    )
    every_minute = ["--schedule", "* * * * *"]
    with ListenerProcess(
        tmp_path / "pulls.sqlite",
        token_file(tmp_path),
        env,
        tmp_path / "listen.log",
        args=every_minute,
    ) as listener:
        listener.start()
        assert metrics_of(listener).text == ""  # no run yet: no series, not an error
        wait_for(
            lambda: (
                "scheduled cleanup: done" in listener.log()
                or "scheduled cleanup: regsweep run ended" in listener.log()
            ),
            timeout=150,
            what="the first scheduled run",
        )
        answer = metrics_of(listener)
        assert listener.terminate() == 0

    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    series = values(answer.text)
    assert series["regsweep_last_run_exit_code"] == 0, listener.log()
    assert series["regsweep_last_run_tags_deleted"] == len(scenario.deleted_tags)
    assert series["regsweep_last_run_manifests_deleted"] == len(scenario.deleted_manifests)
    assert series["regsweep_last_success_timestamp_seconds"] <= time.time()
    # the journal holds the same run, so regsweep status shows it
    status = regsweep("status", "--registry-dir", str(registry.root), env=env)
    assert "done" in status.stdout, status.stdout + status.stderr
    assert "scheduled cleanup: starting regsweep run" in listener.log()


def test_listen_serves_the_metrics_file_a_separate_run_writes(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """The Kubernetes layout: a CronJob's run writes the file, the listener serves it."""
    pusher.push_image("app", "latest")
    metrics = tmp_path / "regsweep.prom"
    env = clean_env(tmp_path)
    with ListenerProcess(
        tmp_path / "pulls.sqlite",
        token_file(tmp_path),
        env,
        tmp_path / "listen.log",
        args=["--metrics-file", str(metrics)],
    ) as listener:
        listener.start()
        done = regsweep(
            "run",
            "--registry-dir",
            str(registry.root),
            "--gc",
            "none",
            "--metrics-file",
            str(metrics),
            env=env,
        )
        assert done.returncode == 0, done.stderr
        answer = metrics_of(listener)

    assert answer.status_code == 200
    assert answer.content == metrics.read_bytes()
    assert values(answer.text)["regsweep_last_run_exit_code"] == 0
