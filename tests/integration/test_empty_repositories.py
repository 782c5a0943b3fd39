"""Empty repositories in storage mode: removed, so they leave ``_catalog``; kept inside the
grace period (a push may be starting) and with ``--keep-empty-repositories``; over the API,
the plan says it cannot remove them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.support.cli import clean_env, regsweep
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.storage import repository_path

OLD = time.time() - 60 * 86400


def _expired_repository(registry: RegistryServer, pusher: Pusher, name: str) -> None:
    """A repository whose only tag and manifest the default policy deletes, every file in
    it written two months ago."""
    pusher.push_image(name, "feature-gone")
    for path in repository_path(registry.root, name).rglob("*"):
        os.utime(path, (OLD, OLD), follow_symlinks=False)


def _catalog(registry: RegistryServer) -> list[str]:
    listed: list[str] = httpx.get(f"{registry.url}/v2/_catalog").json()["repositories"]
    return listed


def _run(registry: RegistryServer, tmp_path: Path, *flags: str) -> str:
    done = regsweep(
        "run",
        "--registry-dir",
        str(registry.root),
        "--gc",
        "none",
        "--force",
        *flags,
        env=clean_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_emptied_repository_is_removed_and_leaves_the_catalog(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    _expired_repository(registry, pusher, "team/old")
    nested = pusher.push_image("team/old/kept", "latest")
    assert "team/old" in _catalog(registry)

    out = _run(registry, tmp_path)

    assert "removed 1 empty repositories" in out
    assert "team/old" not in _catalog(registry)
    assert not (repository_path(registry.root, "team/old") / "_manifests").exists()
    # the repository nested in its folder stays, and pulls
    assert "team/old/kept" in _catalog(registry)
    assert pusher.get_manifest("team/old/kept", "latest")[0] == nested.digest


def test_an_empty_repository_written_within_the_grace_stays(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """An upload started a moment ago: a push may be about to put a manifest there."""
    _expired_repository(registry, pusher, "app")
    started = pusher.client.post("/v2/app/blobs/uploads/")
    assert started.status_code == 202

    out = _run(registry, tmp_path)

    assert "removed" not in out
    assert "app" in _catalog(registry)


def test_keep_empty_repositories_keeps_them(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    _expired_repository(registry, pusher, "app")

    _run(registry, tmp_path, "--keep-empty-repositories")

    assert "app" in _catalog(registry)


def test_over_the_api_the_plan_says_it_cannot_remove_them(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    pusher.push_image("app", "feature-gone", created="2020-01-01T00:00:00Z")

    done = regsweep("plan", "--registry-url", registry.url, env=clean_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert "the registry API has no way to remove a repository" in done.stderr
    assert "--registry-dir" in done.stderr
