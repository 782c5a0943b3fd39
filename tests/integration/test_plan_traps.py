"""``regsweep plan`` on the real registry: each trap other tools fall into."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import clean_env, regsweep_json
from tests.support.images import PushedManifest, Pusher
from tests.support.registry import RegistryServer
from tests.support.storage import (
    blob_digests,
    blob_path,
    set_first_push_time,
    set_manifest_time,
    set_push_time,
    tag_path,
)

DAY = 86400.0


def age(root: Path, repo: str, manifests: list[PushedManifest], days: float) -> None:
    """Make manifests (and the tags they were pushed with) look ``days`` old on disk."""
    when = time.time() - days * DAY
    for manifest in manifests:
        set_manifest_time(root, repo, manifest.digest, when)
        if manifest.tag is not None:
            set_push_time(root, repo, manifest.tag, when)


def plan(registry: RegistryServer, tmp_path: Path, *extra: str) -> Any:
    return regsweep_json(
        "plan", "--registry-dir", str(registry.root), *extra, env=clean_env(tmp_path)
    )


def actions(result: Any, kind: str) -> set[tuple[str, str]]:
    return {
        (a["repository"], a.get("tag") or a["digest"])
        for a in result["actions"]
        if a["action"] == kind
    }


@pytest.mark.parametrize("oci", [True, False], ids=["oci-index", "docker-list"])
def test_old_multiarch_index_excluded_by_tag_keeps_its_children(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path, oci: bool
) -> None:
    amd = pusher.push_image("app", oci=oci)
    arm = pusher.push_image("app", oci=oci, platform=("linux", "arm64", "v8"))
    index = pusher.push_index("app", "1.4.0", [amd, arm], oci=oci)
    age(registry.root, "app", [amd, arm, index], days=90)

    result = plan(registry, tmp_path)

    assert result["actions"] == []
    assert result["summary"]["manifests"] == 3


def test_old_tag_sharing_a_digest_with_latest_is_untagged_and_the_manifest_stays(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    image = pusher.push_image("app", "feature-x")
    pusher.tag("app", "latest", image)
    set_push_time(registry.root, "app", "feature-x", time.time() - 40 * DAY)
    age(registry.root, "app", [image], days=40)

    result = plan(registry, tmp_path)

    assert actions(result, "untag") == {("app", "feature-x")}
    assert actions(result, "delete_manifest") == set()
    assert result["summary"]["bytes_reclaimable"] == 0


def test_tag_first_pushed_long_ago_but_re_pushed_an_hour_ago_is_kept(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """The seed aged tags by their folder (first push) and deleted fresh re-pushes."""
    pusher.push_image("app", "feature-x")
    fresh = pusher.push_image("app", "feature-x")
    set_first_push_time(registry.root, "app", "feature-x", time.time() - 40 * DAY)
    set_push_time(registry.root, "app", "feature-x", time.time() - 3600)

    result = plan(registry, tmp_path, "--untagged-grace", "0")

    assert actions(result, "untag") == set()
    assert fresh.digest not in {d for _, d in actions(result, "delete_manifest")}


def test_nested_and_single_level_repositories_are_all_planned(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    repos = ["app", "team/app", "a/b/c/d"]
    for repo in repos:
        old = pusher.push_image(repo, "feature-old")
        new = pusher.push_image(repo, "feature-new")
        age(registry.root, repo, [old], days=45)
        age(registry.root, repo, [new], days=2)

    result = plan(registry, tmp_path)

    assert actions(result, "untag") == {(repo, "feature-old") for repo in repos}
    assert {r for r, _ in actions(result, "delete_manifest")} == set(repos)
    assert result["summary"]["repositories"] == 3
    assert result["summary"]["tags"] == 6


def test_expired_index_is_deleted_before_its_untagged_children(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    amd = pusher.push_image("app", oci=True)
    arm = pusher.push_image("app", oci=True, platform=("linux", "arm64"))
    index = pusher.push_index("app", "pr-17", [amd, arm])
    age(registry.root, "app", [amd, arm, index], days=31)

    result = plan(registry, tmp_path)

    deletes = [a for a in result["actions"] if a["action"] == "delete_manifest"]
    assert next(a["digest"] for a in deletes) == index.digest
    assert {a["digest"] for a in deletes} == {index.digest, amd.digest, arm.digest}
    waves = {a["digest"]: a["wave"] for a in deletes}
    assert waves[index.digest] < waves[amd.digest] == waves[arm.digest]
    reasons = {a["digest"]: a["reason"] for a in deletes}
    assert "linux/arm64 of deleted index" in reasons[arm.digest]


def test_manifest_pushed_by_digest_a_minute_ago_is_left_alone(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """A multi-arch push uploads its children before the index that will tag them."""
    young = pusher.push_image("app")
    stale = pusher.push_image("app")
    set_manifest_time(registry.root, "app", young.digest, time.time() - 60)
    age(registry.root, "app", [stale], days=2)

    result = plan(registry, tmp_path)

    assert actions(result, "delete_manifest") == {("app", stale.digest)}


def test_bytes_reclaimable_equals_what_the_registry_gc_frees(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """Applied by hand (API deletes, tag folders removed, real GC), the plan frees its figure."""
    base = [b"shared-base-layer" * 64]
    for repo in ("shop/web", "shop/api"):
        kept = pusher.push_image(repo, "latest", layers=[*base, repo.encode() * 50])
        old = pusher.push_image(repo, "feature-a", layers=[*base, b"a" * 900 + repo.encode()])
        pusher.tag(repo, "feature-b", kept)
        age(registry.root, repo, [kept, old], days=60)
        set_push_time(registry.root, repo, "feature-b", time.time() - 60 * DAY)
    amd = pusher.push_image("shop/web", oci=True, layers=[*base, b"amd" * 300])
    arm = pusher.push_image(
        "shop/web", oci=True, layers=[b"arm" * 300], platform=("linux", "arm64")
    )
    index = pusher.push_index("shop/web", "pr-9", [amd, arm])
    age(registry.root, "shop/web", [amd, arm, index], days=60)

    result = plan(registry, tmp_path)
    expected = result["summary"]["bytes_reclaimable"]
    assert expected > 0

    sizes = {d: blob_path(registry.root, d).stat().st_size for d in blob_digests(registry.root)}
    for action in result["actions"]:
        if action["action"] == "delete_manifest":
            pusher.delete_manifest(action["repository"], action["digest"])
        else:  # untag as the registry's own tag delete does: remove the tag's folder
            shutil.rmtree(tag_path(registry.root, action["repository"], action["tag"]))
    registry.garbage_collect()
    freed = sum(sizes[d] for d in sizes.keys() - blob_digests(registry.root))
    assert freed == expected
    assert result["summary"]["blobs_reclaimable"] == len(sizes.keys() - blob_digests(registry.root))
