"""regsweep's collector on the real registry: the same blobs as its own ``garbage-collect``,
every tag still pulling with skopeo, and the quarantine on a registry that keeps serving."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.bench_gc import delete_manifests
from benchmarks.synth import synthesize
from regsweep.collect.native import collect_native, restore_quarantine
from regsweep.sources.storage.local import LocalStore
from tests.conftest import RegistryFactory
from tests.support import storage
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls

_SUMMARY = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible")


def push_and_delete(pusher: Pusher) -> None:
    """Docker and OCI images, nested names, two multi-arch images (one deleted), layers
    shared by mount, an untagged image, a referrer; then API deletes that leave garbage."""
    v1 = pusher.push_image("app", "v1")
    pusher.tag("app", "latest", v1)
    shared = os.urandom(2048)
    v2 = pusher.push_image("app", "v2", layers=[shared, os.urandom(512)])
    pusher.push_image("app", "v3", layers=[shared])  # keeps a layer of the deleted v2
    pusher.push_image("app")  # untagged: both collectors keep it
    pusher.push_image("team/app", "1.0", oci=True)
    old = pusher.push_image("team/app", "2.0", oci=True)
    pusher.push_image(
        "team/app", None, oci=True, subject=old, artifact_type="application/vnd.example.sig"
    )
    index = [
        pusher.push_image("multi", oci=True, platform=("linux", "amd64")),
        pusher.push_image("multi", oci=True, platform=("linux", "arm64", "v8")),
    ]
    pusher.push_index("multi", "latest", index)
    listed = [
        pusher.push_image("multi", platform=("linux", "amd64")),
        pusher.push_image("multi", platform=("linux", "arm", "v7")),
    ]
    gone_list = pusher.push_index("multi", "old", listed, oci=False)
    base_layer = os.urandom(4096)
    base = pusher.push_image("base", "v1", layers=[base_layer, os.urandom(1024)])
    pusher.mount("a/b/c", base.layers[0].digest, "base")
    pusher.push_image("a/b/c", "v1", layers=[base_layer])
    gone_derived = pusher.push_image("a/b/c", "v2", layers=[base_layer, os.urandom(100)])

    for repo, manifest in (
        ("app", v2),
        ("team/app", old),  # its referrer stays, untagged
        ("multi", gone_list),  # its children stay, untagged revisions
        ("a/b/c", gone_derived),
        ("base", base),  # its first layer stays: a/b/c:v1 uses it
    ):
        pusher.delete_manifest(repo, manifest.digest)


def copy_into(source: Path, server: RegistryServer) -> None:
    shutil.copytree(source, server.root, symlinks=True, dirs_exist_ok=True)


def revisions(root: Path) -> list[tuple[str, str]]:
    """(repository, digest) of every manifest revision left, tagged or not."""
    base = root / storage.V2 / "repositories"
    return sorted(
        (link.parents[3].relative_to(base).parent.as_posix(), link.read_text())
        for link in base.glob("**/_manifests/revisions/sha256/*/link")
    )


def tags(root: Path) -> list[tuple[str, str]]:
    base = root / storage.V2 / "repositories"
    return sorted(
        (link.parents[3].relative_to(base).parent.as_posix(), link.parents[1].name)
        for link in base.glob("**/_manifests/tags/*/current/link")
    )


def eligible(server: RegistryServer) -> int:
    """Blobs the registry's own collector would still delete."""
    match = _SUMMARY.search(server.garbage_collect(dry_run=True).stdout)
    assert match is not None
    return int(match.group(2))


def assert_same_answer(source: Path, registry_factory: RegistryFactory, tmp_path: Path) -> int:
    """Collect identical copies of ``source`` with both collectors; same blobs must go, and
    everything left in regsweep's copy must pull. Returns how many blobs went."""
    theirs, ours = registry_factory(start=False), registry_factory(start=False)
    copy_into(source, theirs)
    copy_into(source, ours)
    before = storage.blob_digests(source)

    theirs.garbage_collect()
    report = collect_native(LocalStore(ours.root), offline=True, now=datetime.now(UTC))

    swept = before - storage.blob_digests(theirs.root)
    assert swept, "the scenario must leave garbage"
    assert before - storage.blob_digests(ours.root) == swept
    assert {d for d, _ in report.swept} == swept
    assert eligible(ours) == 0
    with ours:
        for repo, tag in tags(ours.root):
            assert_pulls(ours.host, repo, tag, tmp_path)
        for repo, digest in revisions(ours.root):
            assert_pulls(ours.host, repo, digest, tmp_path)
    return len(swept)


def test_same_blobs_as_the_registry_on_pushed_images(
    registry: RegistryServer,
    pusher: Pusher,
    registry_factory: RegistryFactory,
    tmp_path: Path,
) -> None:
    push_and_delete(pusher)
    registry.stop()
    assert assert_same_answer(registry.root, registry_factory, tmp_path) >= 10


def test_same_blobs_as_the_registry_on_a_synthesised_tree(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    root = tmp_path / "synth"
    synthesize(
        root, repositories=12, tags_per_repository=6, index_every=4, untagged_per_repository=2
    )
    assert delete_manifests(root) > 0
    assert assert_same_answer(root, registry_factory, tmp_path) > 0


def test_live_collection_beside_a_serving_registry_and_restore(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    kept = pusher.push_image("app", "kept")
    dropped = pusher.push_image("app", "dropped", layers=[os.urandom(300), os.urandom(300)])
    pusher.delete_manifest("app", dropped.digest)
    before = storage.blob_digests(registry.root)
    now = datetime.now(UTC)

    fresh = collect_native(LocalStore(registry.root), now=now)
    assert fresh.quarantined.count == 0 and fresh.young.count == 4  # inside the 1h grace
    report = collect_native(LocalStore(registry.root), now=now, grace=timedelta(0))

    assert report.quarantined.count == 4 and report.deleted.count == 0
    assert storage.blob_digests(registry.root) == before - {dropped.digest, *dropped.blobs}
    registry.restart()  # what the caller does when report.needs_restart
    assert report.needs_restart
    assert_pulls(registry.host, "app", "kept", tmp_path)

    restored = restore_quarantine(LocalStore(registry.root), now=now)
    assert restored.restored.count == 4
    assert storage.blob_digests(registry.root) == before
    # the layer links stayed while quarantined: the old manifest can be put back as it was
    pusher.put_manifest("app", "dropped", dropped.raw, dropped.media_type)
    assert_pulls(registry.host, "app", "dropped", tmp_path)
    assert kept.digest in storage.blob_digests(registry.root)
