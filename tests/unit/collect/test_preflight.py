"""The collection's pre-flight: programs found, the container running, the local config
naming the storage regsweep cleans; each refusal names the flags that get past it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from regsweep.cli.settings import OWN_ENV_NAMES
from regsweep.collect.options import CollectOptions, Collector
from regsweep.collect.preflight import check_collection
from regsweep.core.errors import UsageError
from regsweep.sources.storage.local import LocalStore

DOCKER_GC = ("docker", "exec", "-i", "registry", "/bin/registry", "garbage-collect", "/c.yml")
DOCKER_RESTART = ("docker", "restart", "registry")


def registry_gc(**changes: object) -> CollectOptions:
    fields: dict[str, object] = {
        "collector": Collector.REGISTRY,
        "gc_argv": DOCKER_GC,
        "restart_argv": DOCKER_RESTART,
        "container": "registry",
        "withheld_env": OWN_ENV_NAMES,
    }
    fields.update(changes)
    return CollectOptions(**fields)  # type: ignore[arg-type]


def stand_in(folder: Path, name: str, body: str) -> None:
    """An executable ``name`` in ``folder`` that runs the shell ``body``, logging its args."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "$@" >> {folder}/calls\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH of one folder (plus /bin for the stand-ins' shell): no docker unless put there."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:/bin")
    return folder


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    root = tmp_path / "storage"
    root.mkdir()
    return LocalStore(root.resolve())


def refusal(options: CollectOptions, store: LocalStore | None) -> str:
    with pytest.raises(UsageError) as raised:
        check_collection(options, store)
    return str(raised.value)


def test_no_docker_on_path(bin_dir: Path, store: LocalStore) -> None:
    assert refusal(registry_gc(), store) == (
        "cannot collect garbage: docker not found on PATH: install it, or give "
        "--gc native, --gc none or another --gc-command"
    )


def test_over_the_api_alone_native_collection_is_no_way_out(bin_dir: Path) -> None:
    assert "give --gc none or another --gc-command" in refusal(registry_gc(), None)


def test_a_docker_that_cannot_reach_its_daemon(bin_dir: Path, store: LocalStore) -> None:
    stand_in(
        bin_dir,
        "docker",
        'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1',
    )
    assert refusal(registry_gc(), store) == (
        "cannot collect garbage: docker inspect registry failed: Cannot connect to the Docker "
        "daemon at unix:///var/run/docker.sock., or give --gc native, --gc none or another "
        "--gc-command"
    )
    # asked once, whichever command reaches the container, and nothing else was run
    assert (bin_dir / "calls").read_text() == "inspect -f {{.State.Running}} registry\n"


def test_a_stopped_container(bin_dir: Path, store: LocalStore) -> None:
    stand_in(bin_dir, "docker", "echo false")
    assert "container registry is not running: start it, or give" in refusal(registry_gc(), store)


def test_a_running_container_passes(bin_dir: Path, store: LocalStore) -> None:
    stand_in(bin_dir, "docker", "echo true")
    check_collection(registry_gc(), store)


def test_the_restart_is_checked_with_its_own_ways_out(bin_dir: Path, store: LocalStore) -> None:
    options = registry_gc(
        collector=Collector.NATIVE, gc_argv=None, restart_argv=("podman", "restart", "registry")
    )
    assert refusal(options, store) == (
        "cannot restart the registry: podman not found on PATH: install it, or give "
        "--no-restart or another --restart-command"
    )


def test_a_local_gc_for_another_storage(bin_dir: Path, store: LocalStore, tmp_path: Path) -> None:
    stand_in(bin_dir, "docker-registry", "exit 0")
    config = tmp_path / "config.yml"
    config.write_text("storage: {filesystem: {rootdirectory: /var/lib/docker-registry}}")
    options = registry_gc(
        gc_argv=("docker-registry", "garbage-collect", str(config)),
        restart_argv=None,
        gc_config=config,
    )
    assert refusal(options, store) == (
        f"cannot collect garbage: the registry config {config} names the storage "
        f"/var/lib/docker-registry, but regsweep cleans {store.root}: set "
        "DOCKER_REGISTRY_CONFIG (--docker-registry-config) to the config of the registry "
        "regsweep cleans"
    )
    config.write_text(f"storage: {{filesystem: {{rootdirectory: {store.root}}}}}")
    check_collection(options, store)


def test_a_missing_setting_is_refused_as_it_was_recorded(store: LocalStore) -> None:
    options = CollectOptions(Collector.REGISTRY, missing="cannot collect garbage: set X")
    assert refusal(options, store) == "cannot collect garbage: set X"


def test_no_collection_needs_nothing(bin_dir: Path, store: LocalStore) -> None:
    check_collection(CollectOptions(Collector.NONE), store)
    check_collection(registry_gc(collector=Collector.NATIVE, restart_argv=None), store)
