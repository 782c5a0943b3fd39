"""Pre-flight: everything a real run needs is checked before the first deletion.

Each refusal is exit 2 with one error line naming the flags that get past it, and the
storage is byte for byte as it was: no tag, manifest or blob deleted, no lock or journal.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.cli import clean_env, regsweep
from tests.support.fake_docker import (
    fake_docker_env,
    install_fake_docker,
    install_unreachable_docker,
    path_without_docker,
)
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario
from tests.support.storage import tree_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[2]
GC_WAYS_OUT = "or give --gc native, --gc none or another --gc-command"


def assert_refused_untouched(
    registry: RegistryServer, tmp_path: Path, args: list[str], env: dict[str, str]
) -> str:
    """Run ``regsweep ARGS``: exit 2, one error line (returned), nothing changed."""
    before = tree_fingerprint(registry.root)
    done = regsweep(*args, env=env)
    errors = [line for line in done.stderr.splitlines() if line.startswith("regsweep: error:")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1, done.stderr
    assert tree_fingerprint(registry.root) == before
    assert not (tmp_path / "state" / "regsweep").exists(), "a journal or lock was written"
    return errors[0]


@pytest.fixture
def seeded(registry: RegistryServer, pusher: Pusher) -> Iterator[RegistryServer]:
    """The end-to-end scenario: a real run would delete tags, manifests and blobs."""
    scenario = build_scenario(pusher, registry.root)
    assert scenario.deleted_tags and scenario.doomed_blobs
    yield registry


def seed_env(registry: RegistryServer, tmp_path: Path, path: str) -> dict[str, str]:
    """The README's variables, with ``DOCKER_REGISTRY_NAME``, on a PATH of the test's choice."""
    return clean_env(
        tmp_path / "state",
        {
            "PATH": path,
            "REGISTRY_DIR": str(registry.root),
            "REGISTRY_URL": registry.url,
            "DOCKER_REGISTRY_NAME": "registry",
            "DOCKER_REGISTRY_CONFIG": "/etc/docker/registry/config.yml",
        },
    )


def test_no_docker_on_the_host_stops_the_run_before_anything_is_deleted(
    seeded: RegistryServer, tmp_path: Path
) -> None:
    env = seed_env(seeded, tmp_path, path_without_docker())
    assert shutil.which("docker", path=env["PATH"]) is None

    error = assert_refused_untouched(seeded, tmp_path, ["run"], env)

    assert error == (
        f"regsweep: error: cannot collect garbage: docker not found on PATH: install it, "
        f"{GC_WAYS_OUT}"
    )


def test_a_docker_without_its_daemon_stops_the_run_before_anything_is_deleted(
    seeded: RegistryServer, tmp_path: Path
) -> None:
    install_unreachable_docker(tmp_path / "bin")
    env = seed_env(seeded, tmp_path, path_without_docker(tmp_path / "bin"))

    error = assert_refused_untouched(seeded, tmp_path, ["run"], env)

    assert "docker inspect registry failed: Cannot connect to the Docker daemon" in error
    assert error.endswith(GC_WAYS_OUT)
    # the one docker command run was the question; no exec, no restart
    calls = (tmp_path / "bin" / "docker-calls.log").read_text().splitlines()
    assert calls == ["inspect -f {{.State.Running}} registry"]


def test_a_stopped_container_stops_the_run(seeded: RegistryServer, tmp_path: Path) -> None:
    install_fake_docker(tmp_path / "bin", REPO_ROOT)
    home = tmp_path / "docker-home"  # the stand-in's container: a registry that has stopped
    home.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    (home / "registry.pid").write_text(str(gone.pid))
    env = {
        **fake_docker_env(tmp_path / "bin", home, seeded.url),
        **seed_env(seeded, tmp_path, path_without_docker(tmp_path / "bin")),
    }

    error = assert_refused_untouched(seeded, tmp_path, ["run"], env)

    assert error == (
        f"regsweep: error: cannot collect garbage: container registry is not running: start "
        f"it, {GC_WAYS_OUT}"
    )


def test_native_collection_still_needs_what_restarts_the_registry(
    seeded: RegistryServer, tmp_path: Path
) -> None:
    env = seed_env(seeded, tmp_path, path_without_docker())

    error = assert_refused_untouched(seeded, tmp_path, ["run", "--gc", "native"], env)

    assert error == (
        "regsweep: error: cannot restart the registry: docker not found on PATH: install it, "
        "or give --no-restart or another --restart-command"
    )
    # and regsweep's own collector on its own checks it before it sweeps
    gc = assert_refused_untouched(seeded, tmp_path, ["gc", "--offline"], env)
    assert gc == error


def test_the_way_out_the_refusal_names_works(seeded: RegistryServer, tmp_path: Path) -> None:
    env = seed_env(seeded, tmp_path, path_without_docker())

    done = regsweep("run", "--gc", "none", env=env)

    assert done.returncode == 0, done.stderr


def local_config(registry: RegistryServer, tmp_path: Path, root: str) -> Path:
    """A copy of the registry's config whose filesystem storage is ``root``."""
    config = yaml.safe_load(registry.config_path.read_text())
    config["storage"]["filesystem"]["rootdirectory"] = root
    path = tmp_path / "other-config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_local_gc_configured_for_another_storage_is_refused(
    seeded: RegistryServer, tmp_path: Path
) -> None:
    """Debian's own /etc/docker/registry/config.yml names /var/lib/docker-registry: the
    collection would clean that tree, after deleting the manifests of this one."""
    config = local_config(seeded, tmp_path, "/var/lib/docker-registry")
    args = [
        "run",
        "--registry-dir",
        str(seeded.root),
        "--gc-command",
        "docker-registry garbage-collect {config}",
        "--docker-registry-config",
        str(config),
        "--no-restart",
    ]
    env = clean_env(tmp_path / "state")

    error = assert_refused_untouched(seeded, tmp_path, args, env)

    assert error == (
        f"regsweep: error: cannot collect garbage: the registry config {config} names the "
        f"storage /var/lib/docker-registry, but regsweep cleans {seeded.root.resolve()}: set "
        "DOCKER_REGISTRY_CONFIG (--docker-registry-config) to the config of the registry "
        "regsweep cleans"
    )


def test_a_local_gc_sees_the_storage_an_override_in_its_environment_names(
    seeded: RegistryServer, tmp_path: Path
) -> None:
    """The command keeps the user's REGISTRY_STORAGE_* overrides: the check reads them too."""
    args = ["run", "--registry-dir", str(seeded.root)]
    args += ["--gc-command", "docker-registry garbage-collect {config}", "--no-restart"]
    args += ["--docker-registry-config", str(seeded.config_path)]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(
        tmp_path / "state", {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(elsewhere)}
    )

    error = assert_refused_untouched(seeded, tmp_path, args, env)

    assert f"names the storage {elsewhere.resolve()}, but regsweep cleans" in error


def test_a_local_gc_has_no_default_config(seeded: RegistryServer, tmp_path: Path) -> None:
    args = ["run", "--registry-dir", str(seeded.root), "--no-restart"]
    args += ["--gc-command", "docker-registry garbage-collect {config}"]

    error = assert_refused_untouched(seeded, tmp_path, args, clean_env(tmp_path / "state"))

    assert error == (
        "regsweep: error: cannot collect garbage: docker-registry runs on this host, where "
        "{config} has no default (/etc/docker/registry/config.yml is the container's): set "
        "DOCKER_REGISTRY_CONFIG (--docker-registry-config) to the registry's config file"
    )


@pytest.fixture
def immutable(seeded: RegistryServer) -> Iterator[Path]:
    """The storage root made immutable (``chattr +i``): even root cannot write into it, as a
    read-only mount or a tree owned by the registry's user refuses regsweep."""
    root = seeded.root
    if subprocess.run(["chattr", "+i", str(root)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not allowed here")
    try:
        yield root
    finally:
        subprocess.run(["chattr", "-i", str(root)], check=True)


def test_a_storage_regsweep_cannot_write_stops_the_run(
    seeded: RegistryServer, immutable: Path, tmp_path: Path
) -> None:
    args = ["run", "--registry-dir", str(seeded.root), "--gc", "none"]

    error = assert_refused_untouched(seeded, tmp_path, args, clean_env(tmp_path / "state"))

    assert error.startswith(
        f"regsweep: error: cannot create the lock regsweep/lock in {seeded.root.resolve()}: "
    )
    assert error.endswith(
        "; run regsweep as a user who may change it, or --dry-run to see the plan only"
    )
