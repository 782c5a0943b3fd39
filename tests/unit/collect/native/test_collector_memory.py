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
from regsweep.collect.native.mark import Marker
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
