"""``regsweep status``: the last runs as the journal recorded them, on the real registry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support.cli import clean_env, local_gc, regsweep, regsweep_json
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario


def test_status_shows_each_runs_deletions_bytes_and_failure_newest_first(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)
    env = clean_env(tmp_path)
    where = ["--registry-dir", str(registry.root)]
    first = regsweep_json("run", *where, *local_gc(registry), env=env)
    registry.restart()
    pusher.push_image("shop/web", "feature-new")  # something for the next run to keep
    # a collector that passes the pre-flight (it is found, its config names this storage)
    # and fails once the deletes are done
    failing = tmp_path / "garbage-collect.py"
    failing.write_text("raise SystemExit('garbage-collect: the disk is on fire')\n")
    broken_gc = ["--gc-command", f"{sys.executable} {failing} {{config}}"]
    broken_gc += ["--docker-registry-config", str(registry.config_path)]
    second = regsweep("run", *where, *broken_gc, "--no-restart", env=env)
    assert second.returncode == 1, second.stderr

    status = regsweep_json("status", *where, env=env)
    text = regsweep("status", *where, env=env)

    newest, oldest = status["runs"]
    assert newest["result"] == "failed" and "garbage" in newest["error"]
    assert oldest["result"] == "done" and oldest["error"] is None
    assert oldest["tags_deleted"] == first["apply"]["tags_deleted"] > 0
    assert oldest["manifests_deleted"] == first["apply"]["manifests_deleted"] > 0
    freed = first["storage_bytes_before"] - first["storage_bytes_after"]
    assert oldest["bytes_freed"] == freed > 0
    assert oldest["blobs_deleted"] == first["gc"]["blobs_deleted"]
    assert newest["tags_deleted"] == 0 and newest["bytes_freed"] is None
    assert status["registry"]["storage"] == str(registry.root)
    assert text.returncode == 0, text.stderr
    assert "failed" in text.stdout and "done" in text.stdout
    assert "last run stopped:" in text.stdout

    # the run history the brake keeps beside the journal holds both runs too
    recent, earlier = status["history"]
    assert earlier["tags"] == first["plan"]["tags"]
    assert earlier["tags_deleted"] == oldest["tags_deleted"]
    assert recent["tags_deleted"] == 0
    assert earlier["repositories_not_cleaned"] == [] and status["history_problem"] is None
    assert "run history (what the safety brake judges by)" in text.stdout

    only_one = regsweep_json("status", *where, "--last", "1", env=env)
    assert [run["started"] for run in only_one["runs"]] == [newest["started"]]
    assert len(only_one["history"]) == 1


def test_status_of_a_registry_never_cleaned_says_so(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    pusher.push_image("app", "latest")
    done = regsweep("status", "--registry-dir", str(registry.root), env=clean_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert "no run recorded" in done.stdout
    assert (
        json.loads(
            regsweep(
                "status",
                "--registry-dir",
                str(registry.root),
                "--output",
                "json",
                env=clean_env(tmp_path),
            ).stdout
        )["runs"]
        == []
    )
