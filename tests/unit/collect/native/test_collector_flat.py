"""The collector's flat path (object storage) against its folder path, on the same trees.

A LocalStore that claims to list flat goes through ``scan_files``, the blob sizes of the
listing and the offline sweep without a stat per blob, exactly as S3Store does; the
folder path is the reference. The S3 store itself is in tests/integration/test_s3*.py.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from regsweep.collect.native import collect_native
from regsweep.collect.native.scan import find_repositories, scan_files, scan_repository
from regsweep.sources.storage import layout
from regsweep.sources.storage.local import LocalStore
from regsweep.sources.storage.store import StoredFile
from tests.unit.collect.native.tree import NOW, Tree, hex_of


class FlatLocalStore(LocalStore):
    """A local tree walked the way object storage is; remembers what it was asked to stat."""

    lists_flat = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.statted: list[str] = []

    def stat_many(self, paths: Sequence[str]) -> list[StoredFile | None]:
        self.statted.extend(paths)
        return super().stat_many(paths)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """Nested repositories, an index, a deleted manifest, a dead tag, an upload, a stray."""
    tree = Tree(tmp_path / "root")
    kept = tree.image("app", "v1")
    dropped = tree.image("app", "v2")
    tree.image("app/cache", "main")
    children = [tree.image("org/team/multi", None, seed=s)["manifest"] for s in ("amd", "arm")]
    tree.index("org/team/multi", "latest", children)
    tree.delete_manifest("app", dropped["manifest"])
    dead = tree.repo("app") / "_manifests" / "tags" / "gone" / "index" / "sha256"
    tree.link((dead / hex_of(kept["manifest"]) / "link").relative_to(tree.root), kept["manifest"])
    tree.write((tree.repo("app/cache") / "_uploads" / "u1" / "data").relative_to(tree.root), b"x")
    tree.blob(b"stray")
    return tree


def test_one_listing_finds_what_the_folder_walk_finds(tree: Tree) -> None:
    store = LocalStore(tree.root)
    walked = {name: scan_repository(store, name) for name in find_repositories(store).names}

    listed = scan_files(store.list_files(layout.REPOSITORIES))

    assert listed.keys() == walked.keys() == {"app", "app/cache", "org/team/multi"}
    for name, scan in walked.items():
        flat = listed[name]
        assert (flat.revisions, flat.layers) == (scan.revisions, scan.layers), name
        assert (flat.dead_tags, flat.uploads) == (scan.dead_tags, scan.uploads), name
    # an empty revision folder is no key on object storage: only the walk sees it
    assert len(walked["app"].dead_revisions) == 1 and listed["app"].dead_revisions == []


def test_without_tags_the_listing_skips_dead_tags_and_uploads(tree: Tree) -> None:
    listed = scan_files(LocalStore(tree.root).list_files(layout.REPOSITORIES), tags=False)

    assert not any(scan.dead_tags or scan.uploads for scan in listed.values())


@pytest.mark.parametrize("offline", [True, False])
def test_flat_collection_sweeps_the_same_blobs(tree: Tree, tmp_path: Path, offline: bool) -> None:
    copy = tmp_path / "flat"
    shutil.copytree(tree.root, copy)
    other = Tree.__new__(Tree)
    other.root = copy

    folders = collect_native(LocalStore(tree.root), offline=offline, now=NOW, workers=4)
    flat_store = FlatLocalStore(copy)
    flat = collect_native(flat_store, offline=offline, now=NOW, workers=4)

    assert flat.swept == folders.swept and len(flat.swept) == 5
    assert (flat.deleted, flat.quarantined) == (folders.deleted, folders.quarantined)
    assert flat.marked == folders.marked
    assert flat.layer_links_removed == folders.layer_links_removed
    assert flat.uploads_removed == folders.uploads_removed
    assert other.blobs() == tree.blobs()
    if offline:  # live, links of quarantined blobs and young dead folders stay
        assert flat.layer_links_removed == 3
        # the sweep took the sizes from the listing: no request per blob
        assert not [p for p in flat_store.statted if p.startswith("docker/registry/v2/blobs")]
        assert flat.folders_removed == folders.folders_removed - 1  # the empty revision folder
        assert not (copy / "docker/registry/v2/repositories/app/_manifests/tags/gone").exists()


@pytest.mark.parametrize("store", [LocalStore, FlatLocalStore])
def test_a_repository_with_an_invalid_name_is_kept_whole(
    tree: Tree, store: type[LocalStore]
) -> None:
    """The registry cannot serve it, but renaming it back would: what it names stays."""
    dropped = tree.image("web", "v3")
    tree.delete_manifest("web", dropped["manifest"])
    copy = tree.repo("Bad")
    shutil.copytree(tree.repo("app") / "_layers", copy / "_layers")
    kept_by_copy = {f"sha256:{p.name}" for p in (copy / "_layers" / "sha256").iterdir()}

    report = collect_native(store(tree.root), offline=True, now=NOW, workers=4)

    assert kept_by_copy <= tree.blobs()
    assert dropped["manifest"] not in tree.blobs()
    assert list(report.damaged) == ["docker/registry/v2/repositories/Bad"]


class RoundTripStore(FlatLocalStore):
    """Reads that take a round trip, as on object storage; how many run at once at most."""

    blocks_briefly = False
    readers = 8

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._lock = threading.Lock()
        self.reading = 0
        self.most_at_once = 0
        self.reads = 0

    def read(self, path: str) -> bytes:
        with self._lock:
            self.reading += 1
            self.reads += 1
            self.most_at_once = max(self.most_at_once, self.reading)
        try:
            time.sleep(0.005)
            return super().read(path)
        finally:
            with self._lock:
                self.reading -= 1


def test_manifests_on_object_storage_are_read_one_per_task(tmp_path: Path) -> None:
    """A read there is a round trip: 32 manifests found by one listing are read by every
    reader at once, not as one task reading them one after another (a task of 64)."""
    tree = Tree(tmp_path / "root")
    for n in range(32):
        tree.image("app", f"v{n}")
    store = RoundTripStore(tree.root)

    report = collect_native(store, offline=True, dry_run=True, now=NOW, workers=8)

    assert report.manifests == store.reads == 32
    assert store.most_at_once >= 4  # one task of 32 reads would be 1; 8 readers run
