"""What the collector holds, and for how long: its state must go when the run ends.

A run's state (every repository's scan, the mark set, the blobs listed) is tens of MiB on a
big registry; the command then writes its report. Held by a reference cycle, that state
outlived the run until Python's cyclic collector happened to pass, and the peak memory of
``regsweep gc`` swung by about 30 MiB from one run to the next (100,000 blobs).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regsweep.collect.native import collect_native
from regsweep.collect.native import collector as collector_module
from regsweep.collect.native import mark as mark_module
from regsweep.collect.native.mark import Marker
from regsweep.core.model import Digest, Manifest
from regsweep.core.packed_digests import PackedDigests
from regsweep.sources.storage.local import LocalStore
from tests.unit.collect.native.tree import NOW, Tree


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("dry_run", [True, False])
def test_the_run_state_is_freed_when_the_run_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_cyclic_gc: None, dry_run: bool
) -> None:
    tree = Tree(tmp_path / "root")
    tree.image("app", "v1")
    dropped = tree.image("app", "v2")
    tree.delete_manifest("app", dropped["manifest"])
    markers: list[weakref.ref[Marker]] = []

    class WatchedMarker(Marker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            markers.append(weakref.ref(self))

    monkeypatch.setattr(collector_module, "Marker", WatchedMarker)

    report = collect_native(LocalStore(tree.root), offline=True, dry_run=dry_run, now=NOW)

    assert report.deleted.count > 0  # the run did its work
    assert len(markers) == 1
    assert markers[0]() is None, "the mark set outlives the run (a reference cycle)"


@pytest.mark.parametrize("dry_run", [True, False])
def test_offline_the_sweep_goes_a_chunk_at_a_time_with_the_same_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    """What the sweep holds of each candidate grows with a chunk, not with the garbage;
    the blobs taken, their order in the report and the bytes are the same."""
    reports = []
    blobs_left = []
    chunks: list[int] = []
    sweep = collector_module.sweep_blobs

    def counted(*args: Any, **kwargs: Any) -> Any:
        chunks.append(len(args[2]))
        return sweep(*args, **kwargs)

    monkeypatch.setattr(collector_module, "sweep_blobs", counted)
    for chunk in (collector_module.SWEEP_CHUNK, 3):
        monkeypatch.setattr(collector_module, "SWEEP_CHUNK", chunk)
        tree = Tree(tmp_path / f"chunk-{chunk}")
        tree.image("app", "v1")
        for n in range(4):
            dropped = tree.image("app", f"old{n}", layers=2)
            tree.delete_manifest("app", dropped["manifest"])
        tree.blob(b"pushed, never linked")
        reports.append(
            collect_native(LocalStore(tree.root), offline=True, dry_run=dry_run, now=NOW)
        )
        blobs_left.append(tree.blobs())

    assert chunks == [17, 3, 3, 3, 3, 3, 2]  # 4 x (manifest, config, 2 layers) + 1 unlinked
    one, chunked = reports
    assert chunked.swept == one.swept and len(one.swept) == 17
    assert (chunked.deleted.count, chunked.deleted.bytes) == (one.deleted.count, one.deleted.bytes)
    assert blobs_left[0] == blobs_left[1]


def garbage_tree(root: Path) -> Tree:
    tree = Tree(root)
    for n in range(3):
        tree.image("app", f"v{n}", layers=2)
        dropped = tree.image("app", f"old{n}", layers=2)
        tree.delete_manifest("app", dropped["manifest"])
    return tree


def watch_sweep(monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]) -> None:
    """Note, as the sweep starts, what the mark left: the blobs present (each digest
    string as held), the mark set's strings and whether the manifests shared theirs."""
    sweep = collector_module._Collection.sweep

    def watched(self: Any) -> None:
        seen["present"] = {d: d for d in self.present}
        seen["marked"] = list(self.marker.marked)
        seen["sharing"] = self.marker.sharing
        seen["layers"] = [scan.layers for scan in self.scans.values()]
        sweep(self)

    monkeypatch.setattr(collector_module._Collection, "sweep", watched)


def test_in_memory_the_blobs_present_share_the_mark_sets_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blob listing is packed (32 bytes a digest); the blobs present made from it take
    the strings the mark interned, as the layer links do, so a blob both marked and
    present is one string, not three."""
    seen: dict[str, Any] = {}
    watch_sweep(monkeypatch, seen)
    tree = garbage_tree(tmp_path / "root")

    report = collect_native(LocalStore(tree.root), offline=True, dry_run=True, now=NOW)

    assert seen["sharing"] is True and report.swept
    present, marked = seen["present"], seen["marked"]
    assert set(marked) <= present.keys() and len(present) > len(marked)
    assert all(present[digest] is digest for digest in marked)
    by_string = {id(digest) for digest in marked}
    linked = [digest for layers in seen["layers"] for digest in layers]
    assert all(id(digest) in by_string for digest in linked if digest in marked)


def test_once_the_mark_set_is_on_disk_no_digest_is_interned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the spill of the mark set the interning table would be the only holder of the
    strings: the manifests read after it do not share their digests, the table is let go
    of, and the sweep takes exactly what it takes with everything in memory."""
    shared: list[bool] = []
    parse = mark_module.parse_manifest

    def watched(digest: Digest, raw: bytes, *, share_digests: bool = True) -> Manifest:
        shared.append(share_digests)
        return parse(digest, raw, share_digests=share_digests)

    monkeypatch.setattr(mark_module, "parse_manifest", watched)
    seen: dict[str, Any] = {}
    watch_sweep(monkeypatch, seen)
    tree = garbage_tree(tmp_path / "root")
    store = LocalStore(tree.root)
    unlimited = collect_native(store, offline=True, dry_run=True, now=NOW)
    assert seen["sharing"] is True and set(shared) == {True}
    shared.clear()

    limited = collect_native(store, offline=True, dry_run=True, now=NOW, memory_limit=1)

    # the mark set spills as the revisions are marked, before their manifests are read
    assert seen["sharing"] is False and set(shared) == {False}
    assert all(isinstance(layers, PackedDigests) for layers in seen["layers"])
    assert limited.swept == unlimited.swept and len(limited.swept) == 12
    assert (limited.marked.count, limited.deleted.bytes) == (
        unlimited.marked.count,
        unlimited.deleted.bytes,
    )
