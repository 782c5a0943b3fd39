"""A dry run needs only what it reads: it prints the plan and the bytes, says what a real
run would collect with (or what it will ask for), runs no command, changes nothing, and
exits 0 on a host without Docker."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import clean_env, regsweep
from tests.support.fake_docker import path_without_docker
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario
from tests.support.storage import tree_fingerprint


def dry_run(registry: RegistryServer, tmp_path: Path, *args: str, **env: str) -> tuple[str, str]:
    """``DRY_RUN=true regsweep run ARGS`` with ``REGISTRY_DIR`` and ``env``, on a host
    without docker: exit 0, the storage untouched, no lock or journal; (stdout, stderr)."""
    before = tree_fingerprint(registry.root)
    variables = {
        "PATH": path_without_docker(),
        "REGISTRY_DIR": str(registry.root),
        "DRY_RUN": "true",
        **env,
    }
    done = regsweep("run", *args, env=clean_env(tmp_path / "state", variables))
    assert done.returncode == 0, done.stderr
    assert tree_fingerprint(registry.root) == before
    assert not (tmp_path / "state" / "regsweep").exists()
    return done.stdout, done.stderr


def test_without_a_container_name_the_dry_run_says_what_a_real_run_needs(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)

    stdout, stderr = dry_run(registry, tmp_path)

    assert "feature-login" in stdout and "freeing" in stdout  # the plan and its bytes
    lines = stderr.splitlines()
    assert "garbage collection: the registry's garbage-collect, not configured" in lines
    # everything a real run will ask for, in one line
    assert (
        "warning: a real run would stop before deleting anything: cannot collect garbage: "
        "set DOCKER_REGISTRY_NAME (the registry's container), give --gc-command, or pass "
        "--gc native (regsweep's own collector) or --gc none; cannot restart the registry: "
        "set DOCKER_REGISTRY_NAME (the registry's container), give --restart-command, or "
        "pass --no-restart (and restart it yourself)"
    ) in lines
    assert "would delete" not in stderr  # no collector ran, not even dry


def test_with_a_container_name_and_no_docker_the_dry_run_names_the_commands(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)

    _, stderr = dry_run(registry, tmp_path, DOCKER_REGISTRY_NAME="registry")

    lines = stderr.splitlines()
    assert (
        "garbage collection: docker exec -i registry /bin/registry garbage-collect "
        "/etc/docker/registry/config.yml"
    ) in lines
    assert "then, if blobs were freed, restart: docker restart registry" in lines
    assert (
        "warning: a real run would stop before deleting anything: cannot collect garbage: "
        "docker not found on PATH: install it, or give --gc native, --gc none or another "
        "--gc-command"
    ) in lines


def test_a_gc_command_without_a_restart_command_is_a_question_for_the_real_run(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)
    gc = ["--gc-command", "docker-registry garbage-collect {config}"]
    gc += ["--docker-registry-config", str(registry.config_path)]

    stdout, _ = dry_run(registry, tmp_path, *gc, "--output", "json")

    report = json.loads(stdout)
    assert report["dry_run"] is True and "gc" not in report
    assert report["would_collect"] == [
        f"garbage collection: docker-registry garbage-collect {registry.config_path}"
    ]
    assert report["refusal"] == (
        "cannot restart the registry: set DOCKER_REGISTRY_NAME (the registry's container), "
        "give --restart-command, or pass --no-restart (and restart it yourself)"
    )


def test_empty_variables_are_not_set(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """What CI templates set: ``DRY_RUN=""`` and friends, for every command."""
    build_scenario(pusher, registry.root)
    empty = dict.fromkeys(
        ("DRY_RUN", "MAX_AGE_SECONDS", "EXCLUDE_TAGS", "REGISTRY_URL", "DOCKER_REGISTRY_NAME"),
        "",
    )
    env = clean_env(tmp_path / "state", {"REGISTRY_DIR": str(registry.root), **empty})
    before = tree_fingerprint(registry.root)

    for args in (["plan"], ["du"], ["verify"], ["run", "--dry-run", "--gc", "none"]):
        done = regsweep(*args, env=env)
        assert done.returncode == 0, (args, done.stderr)
    assert tree_fingerprint(registry.root) == before
