"""The collector on small trees written to disk: what it keeps, sweeps, quarantines, restores.

The real registry's answer and pulls through it are in tests/integration/test_native_gc.py;
these pin each rule down in isolation, fast.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from regsweep.cli.render_gc import render_gc_report
from regsweep.collect.native import collect_native, restore_quarantine
from regsweep.collect.native.quarantine import QUARANTINE
from regsweep.core.errors import OperationError
from regsweep.sources.storage.local import LocalStore
from regsweep.sources.storage.store import StoredFile
from regsweep.state.lock import LOCK, StorageLockedError
from tests.support.storage import tree_fingerprint
from tests.unit.collect.native.tree import NOW, OLD, Tree, hex_of


def contents(root: Path) -> dict[str, object]:
    """The tree's fingerprint but the root folder's own mtime, which taking the lock (a
    file in a folder made and removed again) touches even when nothing else changes."""
    return {k: v for k, v in tree_fingerprint(root).items() if k != "."}


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "root")


def offline(tree: Tree, **kwargs: object):  # type: ignore[no-untyped-def]
    return collect_native(LocalStore(tree.root), offline=True, now=NOW, workers=4, **kwargs)  # type: ignore[arg-type]


def live(tree: Tree, now: datetime = NOW, **kwargs: object):  # type: ignore[no-untyped-def]
    return collect_native(LocalStore(tree.root), now=now, workers=4, **kwargs)  # type: ignore[arg-type]


def test_offline_sweeps_exactly_the_unreferenced(tree: Tree) -> None:
    kept = tree.image("app", "v1")
    dropped = tree.image("app", "v2")
    shared = tree.image("team/app", "v1")
    tree.link(
        tree.layer_link("team/app", kept["layers"][0]).relative_to(tree.root), kept["layers"][0]
    )
    tree.delete_manifest("app", dropped["manifest"])
    stray = tree.blob(b"never referenced")
    needed = {kept["manifest"], kept["config"], *kept["layers"]}
    needed |= {shared["manifest"], shared["config"], *shared["layers"]}

    report = offline(tree)

    assert tree.blobs() == needed
    gone = {dropped["manifest"], dropped["config"], *dropped["layers"], stray}
    assert {d for d, _ in report.swept} == gone
    assert report.deleted.count == 5 and report.deleted.bytes > 0
    assert report.marked.count == len(needed)
    assert report.layer_links_removed == 3  # config and layers of the dropped image
    assert not tree.layer_link("app", dropped["config"]).parent.exists()
    assert tree.layer_link("team/app", kept["layers"][0]).is_file()  # blob still there
    assert not tree.revision_link("app", dropped["manifest"]).parent.exists()
    assert report.folders_removed == 1
    assert not (tree.root / LOCK).exists()


def test_index_keeps_children_and_their_blobs_even_without_their_revisions(tree: Tree) -> None:
    amd = tree.image("multi", None, seed="amd64")
    arm = tree.image("multi", None, seed="arm64")
    tree.index("multi", "latest", [amd["manifest"], arm["manifest"]])
    # a child that lost its own revision: the registry (2.x) would sweep its layers
    tree.revision_link("multi", arm["manifest"]).unlink()

    offline(tree)

    for image in (amd, arm):
        assert {image["manifest"], image["config"], *image["layers"]} <= tree.blobs()


def test_dry_run_changes_nothing_and_lists_the_same(tree: Tree, tmp_path: Path) -> None:
    dropped = tree.image("app", "v2")
    tree.image("app", "v1")
    tree.delete_manifest("app", dropped["manifest"])
    copy = tmp_path / "copy"
    shutil.copytree(tree.root, copy, symlinks=True)
    before = tree_fingerprint(tree.root)

    dry = offline(tree, dry_run=True)

    assert tree_fingerprint(tree.root) == before
    real = collect_native(LocalStore(copy), offline=True, now=NOW)
    assert dry.swept == real.swept and dry.deleted == real.deleted
    assert (dry.layer_links_removed, dry.folders_removed) == (
        real.layer_links_removed,
        real.folders_removed,
    )
    assert "would be deleted: 4" in render_gc_report(dry)


def test_live_quarantines_then_purges_after_the_delay(tree: Tree) -> None:
    dropped = tree.image("app", "v2")
    tree.image("app", "v1")
    tree.delete_manifest("app", dropped["manifest"])
    gone = {dropped["manifest"], dropped["config"], *dropped["layers"]}

    first = live(tree)

    assert first.quarantined.count == 4 and first.deleted.count == 0
    assert not gone & tree.blobs()
    batch = tree.root / QUARANTINE / str(int(NOW.timestamp())) / "sha256"
    assert {f"sha256:{p.name}" for p in batch.iterdir()} == gone
    assert tree.layer_link("app", dropped["config"]).is_file()  # kept until the purge
    assert first.needs_restart

    early = live(tree, NOW + timedelta(hours=23))
    assert early.purged.count == 0 and len(list(batch.iterdir())) == 4

    late = live(tree, NOW + timedelta(hours=25))
    assert late.purged.count == 4 and late.layer_links_removed == 3
    assert not (tree.root / "regsweep").exists()
    assert not late.needs_restart


def test_grace_keeps_young_blobs_and_blobs_linked_recently(tree: Tree) -> None:
    young = tree.blob(b"uploaded a minute ago", mtime=NOW.timestamp() - 60)
    mounted = tree.blob(b"old blob, mounted a minute ago")
    tree.link(tree.layer_link("app", mounted).relative_to(tree.root), mounted, NOW.timestamp() - 60)
    old = tree.blob(b"old and unlinked")

    report = live(tree)

    assert {d for d, _ in report.swept} == {old}
    assert report.young.count == 2
    assert {young, mounted} <= tree.blobs()
    assert offline(tree).deleted.count == 2  # offline: no grace


def test_a_manifest_pushed_again_brings_its_blobs_back(tree: Tree) -> None:
    image = tree.image("app", "v1")
    tree.delete_manifest("app", image["manifest"])
    live(tree)
    assert image["config"] not in tree.blobs()
    # the same image is pushed again: its layers "exist" (cache or HEAD before the sweep),
    # so only the manifest and its links are written
    tree.link(
        tree.revision_link("app", image["manifest"]).relative_to(tree.root), image["manifest"]
    )

    again = live(tree, NOW + timedelta(hours=30))  # past the delay: restore wins over purge

    assert again.restored.count == 4 and again.purged.count == 0
    assert {image["manifest"], image["config"], *image["layers"]} <= tree.blobs()


class RacingStore(LocalStore):
    """Puts a manifest into the tree when the collector quarantines its first blob: a push
    that checked its layers exist before the sweep and puts its manifest during it."""

    def __init__(self, root: Path, tree: Tree, image: dict[str, object]) -> None:
        super().__init__(root)
        self.tree, self.image, self.raced = tree, image, False

    def move(self, source: str, target: str) -> bool:
        moved = super().move(source, target)
        if not self.raced and target.startswith(QUARANTINE):
            self.raced = True
            digest = str(self.image["manifest"])
            self.tree.link(
                self.tree.revision_link("app", digest).relative_to(self.tree.root), digest
            )
        return moved


def test_re_mark_moves_back_what_a_racing_push_needs(tree: Tree) -> None:
    image = tree.image("app", "v1")
    tree.delete_manifest("app", image["manifest"])
    store = RacingStore(tree.root, tree, image)

    report = collect_native(store, now=NOW, grace=timedelta(0), workers=2)

    assert store.raced
    assert report.quarantined.count == 4 and report.restored.count == 4
    assert {image["manifest"], image["config"], *image["layers"]} <= tree.blobs()
    assert "re-mark" in report.phases


def test_restore_brings_every_quarantined_blob_back(tree: Tree) -> None:
    image = tree.image("app", "v1")
    tree.delete_manifest("app", image["manifest"])
    before = tree.blobs()
    live(tree)
    assert tree.blobs() < before

    dry = restore_quarantine(LocalStore(tree.root), dry_run=True, now=NOW)
    assert dry.restored.count == 4 and tree.blobs() < before
    report = restore_quarantine(LocalStore(tree.root), now=NOW)

    assert report.restored.count == 4
    assert tree.blobs() == before
    assert not (tree.root / "regsweep").exists()  # nothing held: no trace left


def test_restore_drops_the_copy_when_the_blob_was_uploaded_again(tree: Tree) -> None:
    image = tree.image("app", "v1")
    tree.delete_manifest("app", image["manifest"])
    live(tree)
    data = json.dumps({"repo": "app", "tag": "v1", "seed": ""}).encode()
    assert tree.blob(data) == image["config"]  # uploaded anew

    restore_quarantine(LocalStore(tree.root), now=NOW)

    assert tree.blob_path(image["config"]).read_bytes() == data
    assert not (tree.root / "regsweep").exists()  # nothing held: no trace left


def test_lock_keeps_a_second_collector_out(tree: Tree) -> None:
    tree.image("app", "v1")
    (tree.root / "regsweep").mkdir()
    (tree.root / LOCK).write_text(json.dumps({"pid": 4242, "host": "h", "since": "t"}))
    before = tree_fingerprint(tree.root)

    with pytest.raises(StorageLockedError, match="pid 4242 on h"):
        offline(tree)
    with pytest.raises(StorageLockedError):
        restore_quarantine(LocalStore(tree.root), now=NOW)

    assert tree_fingerprint(tree.root) == before
    assert offline(tree, dry_run=True).deleted.count == 0  # a dry run takes no lock
    (tree.root / LOCK).unlink()
    offline(tree)
    assert not (tree.root / LOCK).exists()


def test_lock_is_released_when_the_collection_fails(tree: Tree) -> None:
    image = tree.image("app", "v1")
    tree.delete_manifest("app", image["manifest"])

    class Failing(LocalStore):
        def delete_files(self, paths: Sequence[str]) -> int:
            if any("/blobs/" in path for path in paths):
                raise OSError("disk on fire")
            return super().delete_files(paths)

    with pytest.raises(OperationError, match="disk on fire"):
        collect_native(Failing(tree.root), offline=True, now=NOW, workers=4)
    assert not (tree.root / LOCK).exists()


def test_an_unparseable_manifest_keeps_its_repository_whole_and_the_rest_is_collected(
    tree: Tree,
) -> None:
    """The blobs it needs are unknown, but the registry serves them only through the
    repository's ``_layers`` links: every blob linked there stays, and nothing more."""
    kept = tree.image("app", "v1")
    garbage_in_app = tree.image("app", "v2")
    tree.delete_manifest("app", garbage_in_app["manifest"])
    other = tree.image("web", "v1")
    tree.delete_manifest("web", other["manifest"])
    stray = tree.blob(b"garbage blob")
    bad = tree.blob(b"{not json")
    tree.link(tree.revision_link("app", bad).relative_to(tree.root), bad)
    app_before = tree_fingerprint(tree.repo("app"))

    report = offline(tree)

    # app's unparseable manifest may need any blob app links, even v2's (unreferenced now)
    assert {
        kept["manifest"],
        bad,
        garbage_in_app["config"],
        *garbage_in_app["layers"],
    } <= tree.blobs()
    assert not {stray, other["manifest"], other["config"], *other["layers"]} & tree.blobs()
    assert report.damaged == {
        "docker/registry/v2/repositories/app": f"manifest {bad} is missing or cannot be read"
    }
    assert report.kept_for_damage == 3  # v2's config and layers
    assert tree_fingerprint(tree.repo("app")) == app_before  # not even cleaned up
    assert any(hex_of(bad) in p and "cannot be read or parsed" in p for p in report.problems)
    assert not report.complete and report.sweep_skipped == []


def test_a_symlinked_revision_sweeps_no_blob_and_says_so(tree: Tree, tmp_path: Path) -> None:
    """Which manifest the registry finds through the symlink is unknown, so any blob may be
    one it needs; the rest of the collection (layer links, folders, uploads) goes on."""
    image = tree.image("app", "v1")
    dropped = tree.image("web", "v1")
    tree.delete_manifest("web", dropped["manifest"])
    tree.blob(b"garbage blob")
    folder = tree.revision_link("app", image["manifest"]).parent
    shutil.move(folder, tmp_path / "elsewhere")
    folder.symlink_to(tmp_path / "elsewhere")
    blobs, app_before = tree.blobs(), tree_fingerprint(tree.repo("app"))
    outside = tree_fingerprint(tmp_path / "elsewhere")

    report = offline(tree)

    assert tree.blobs() == blobs and report.deleted.count == 0
    assert len(report.sweep_skipped) == 1
    assert report.sweep_skipped[0].startswith("docker/registry/v2/repositories/app: ")
    assert "symlink" in report.sweep_skipped[0]
    assert tree_fingerprint(tree.repo("app")) == app_before
    assert tree_fingerprint(tmp_path / "elsewhere") == outside
    assert not (tree.revision_link("web", dropped["manifest"]).parent).exists()  # cleaned


def test_a_symlinked_repository_sweeps_no_blob_and_says_so(tree: Tree, tmp_path: Path) -> None:
    tree.image("team/app", "v1")
    tree.blob(b"garbage blob")
    folder = tree.repo("team")
    shutil.move(folder, tmp_path / "team")
    folder.symlink_to(tmp_path / "team")
    blobs = tree.blobs()

    report = offline(tree)

    assert tree.blobs() == blobs
    assert report.sweep_skipped == ["docker/registry/v2/repositories/team: a symlink, not followed"]
    assert folder.is_symlink()


def test_a_missing_manifest_keeps_the_blobs_of_its_image(tree: Tree) -> None:
    """So the image can be repaired by pushing its manifest again; the registry's own GC
    sweeps them (it skips such a revision)."""
    image = tree.image("app", "v1")
    tree.blob_path(image["manifest"]).unlink()

    report = offline(tree)

    assert report.problems == [
        f"docker/registry/v2/blobs/sha256/{hex_of(image['manifest'])[:2]}/"
        f"{hex_of(image['manifest'])}/data: manifest missing (a revision or an index needs it)"
    ]
    assert report.deleted.count == 0
    assert {image["config"], *image["layers"]} <= tree.blobs()
    assert list(report.damaged) == ["docker/registry/v2/repositories/app"]


def test_a_garbage_layer_link_goes_once_its_blob_is_swept(tree: Tree) -> None:
    kept = tree.image("app", "v1")
    dropped = tree.image("app", "v2")
    tree.delete_manifest("app", dropped["manifest"])
    for digest in (kept["layers"][0], dropped["layers"][0]):
        tree.layer_link("app", digest).write_bytes(b"garbage")

    report = offline(tree)

    assert tree.layer_link("app", kept["layers"][0]).read_bytes() == b"garbage"  # in use
    assert not tree.layer_link("app", dropped["layers"][0]).exists()
    assert report.complete


def test_dead_tags_and_old_uploads_are_removed(tree: Tree) -> None:
    image = tree.image("app", "v1")
    dead = tree.repo("app") / "_manifests" / "tags" / "gone"
    tree.link(
        (dead / "index" / "sha256" / hex_of(image["manifest"]) / "link").relative_to(tree.root),
        image["manifest"],
    )
    old = tree.write(
        (tree.repo("app") / "_uploads" / "old" / "data").relative_to(tree.root), b"12345"
    )
    fresh_mtime = NOW.timestamp() - 3600
    os.utime(old.parent, (OLD, OLD))
    fresh = tree.write(
        (tree.repo("app") / "_uploads" / "fresh" / "data").relative_to(tree.root), b"1", fresh_mtime
    )

    report = offline(tree)

    assert not dead.exists() and (tree.repo("app") / "_manifests" / "tags" / "v1").is_dir()
    assert not old.parent.exists() and fresh.is_file()
    assert report.uploads_removed.count == 1 and report.uploads_removed.bytes == 5


def test_live_only_prunes_empty_folders_of_a_dead_tag(tree: Tree) -> None:
    image = tree.image("app", "v1")
    tags = tree.repo("app") / "_manifests" / "tags"
    # a tag being pushed right now: index entry written, current/link not yet
    pushing = tags / "pushing" / "index" / "sha256" / hex_of(image["manifest"])
    tree.link((pushing / "link").relative_to(tree.root), image["manifest"])
    empty = tags / "empty" / "index" / "sha256"
    empty.mkdir(parents=True)
    for folder in (empty, empty.parent, empty.parent.parent, pushing, pushing.parent):
        os.utime(folder, (OLD, OLD))
    os.utime(tags / "pushing", (OLD, OLD))

    live(tree)

    assert (pushing / "link").is_file()
    assert not (tags / "empty").exists()


def test_report_json_and_text(tree: Tree) -> None:
    dropped = tree.image("app", "v2")
    tree.delete_manifest("app", dropped["manifest"])
    started = time.perf_counter()
    report = offline(tree)
    data = report.to_json()
    assert data["mode"] == "offline" and data["deleted"] == {
        "count": 4,
        "bytes": report.deleted.bytes,
    }
    assert set(data["seconds"]) == {"mark", "sweep", "purge", "cleanup"}  # type: ignore[arg-type]
    assert sum(data["seconds"].values()) <= time.perf_counter() - started + 0.01  # type: ignore[union-attr]
    assert len(data["swept"]) == 4  # type: ignore[arg-type]
    assert list(report.to_json(lazily=True)["swept"]) == data["swept"]  # type: ignore[call-overload]
    text = render_gc_report(report)
    assert "deleted: 4" in text and "time: mark" in text and "sha256:" not in text
    assert "delete sha256:" in render_gc_report(report, list_swept=True)


class VanishingUploads(LocalStore):
    """An upload that finishes while the collector looks at it: the registry removes it."""

    def list_files(self, prefix: str) -> Iterator[StoredFile]:
        if "/_uploads/" in prefix:
            raise FileNotFoundError(prefix)
        yield from super().list_files(prefix)


def test_an_upload_finishing_during_the_cleanup_is_skipped(tree: Tree) -> None:
    tree.image("app", "v1")
    tree.write((tree.repo("app") / "_uploads" / "u1" / "data").relative_to(tree.root), b"1")

    report = collect_native(VanishingUploads(tree.root), now=NOW)

    assert report.uploads_removed.count == 0


class FailingDeletes(LocalStore):
    def delete_files(self, paths: Sequence[str]) -> int:
        if paths[0].startswith("docker/"):
            raise PermissionError(13, "Permission denied", paths[0])
        return super().delete_files(paths)


def test_a_storage_error_part_way_is_an_operation_error(tree: Tree) -> None:
    dropped = tree.image("app", "v2")
    tree.delete_manifest("app", dropped["manifest"])

    with pytest.raises(OperationError, match=r"Permission denied.*restart the registry") as info:
        collect_native(FailingDeletes(tree.root), offline=True, now=NOW)

    assert info.value.exit_code == 1
    assert not (tree.root / LOCK).exists()


def test_offline_settles_the_quarantine_without_waiting(tree: Tree) -> None:
    again = tree.image("app", "again")
    gone = tree.image("app", "gone")
    for image in (again, gone):
        tree.delete_manifest("app", image["manifest"])
    assert live(tree).quarantined.count == 8
    tree.link(
        tree.revision_link("app", again["manifest"]).relative_to(tree.root), again["manifest"]
    )

    report = offline(tree)  # in the same second even: offline, nothing waits

    assert report.restored.count == 4 and report.purged.count == 4
    assert {again["manifest"], again["config"], *again["layers"]} <= tree.blobs()
    assert not {gone["manifest"], gone["config"], *gone["layers"]} & tree.blobs()
    assert report.layer_links_removed == 3  # gone's links, now that its blobs are
    assert not (tree.root / "regsweep").exists()


@pytest.mark.parametrize("mode", ["offline", "live"])
def test_symlinks_among_tags_and_layer_links_stop_nothing_and_are_never_followed(
    tree: Tree, tmp_path: Path, mode: str
) -> None:
    """Neither hides a manifest, so the collection goes on; what is behind them stays."""
    kept = tree.image("app", "v1")
    dropped = tree.image("app", "v2")
    tree.delete_manifest("app", dropped["manifest"])
    moved = {
        "tag": tree.repo("app") / "_manifests" / "tags" / "v1",
        "layer": tree.layer_link("app", dropped["layers"][0]).parent,
    }
    outside = {}
    for name, folder in moved.items():
        shutil.move(folder, tmp_path / name)
        folder.symlink_to(tmp_path / name)
        outside[name] = tree_fingerprint(tmp_path / name)

    report = offline(tree) if mode == "offline" else live(tree, grace=timedelta(0))

    assert {kept["manifest"], kept["config"], *kept["layers"]} <= tree.blobs()
    assert dropped["config"] not in tree.blobs()  # swept (quarantined live)
    assert all(folder.is_symlink() for folder in moved.values())
    assert {name: tree_fingerprint(tmp_path / name) for name in moved} == outside
    assert report.complete
