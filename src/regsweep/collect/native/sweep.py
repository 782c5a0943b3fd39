"""Sweep: take unreferenced blobs out of the tree, deleted (offline) or quarantined (live).

``cutoff`` (epoch seconds) is set when the registry may be serving pushes: a blob written,
or linked into a repository, after it stays, because a push in progress uploads or mounts
its blobs before it puts the manifest that references them. Offline there is no cutoff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from functools import partial
from typing import Protocol

from regsweep.collect.native.batches import (
    delete_batch,
    each_batch,
    map_batches,
    stat_all,
    stat_each,
)
from regsweep.collect.native.quarantine import Quarantined, QuarantineStore, quarantine_blob
from regsweep.collect.native.report import GcReport
from regsweep.collect.native.scan import RepositoryScan
from regsweep.collect.native.vacuum import delete_blobs
from regsweep.core.model import Digest
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import ScannableStore


class SweepStore(ScannableStore, QuarantineStore, Protocol):
    """What sweeping takes, and undoing it: a look at every candidate blob in batches,
    then a delete (offline) or a move into the quarantine (live), and a move back out."""


#: A blob in the tree: its size and mtime (its path is not kept: at 50,000 candidates,
#: their paths were a fifth of the collector's memory).
_Blob = tuple[int, float]


def sweep_blobs(
    store: SweepStore,
    pool: Executor,
    candidates: Sequence[Digest],
    scans: Iterable[RepositoryScan],
    *,
    cutoff: float | None,
    batch: int,
    dry_run: bool,
    report: GcReport,
    sizes: Mapping[Digest, int] | None = None,
) -> dict[Digest, Quarantined | None]:
    """Sweep the unmarked ``candidates``; return what left the tree (with its quarantine
    entry when live). ``scans``: the repositories, whose layer links to a candidate are
    looked at when live.

    ``sizes``: the blobs' sizes from a listing of this run, which, offline only, stand in
    for looking at each candidate again (a request per blob on object storage); with the
    registry stopped, nothing changed since. Live, each is looked at again.
    """
    blobs: dict[Digest, _Blob]
    if sizes is not None and cutoff is None:
        blobs = {d: (sizes[d], 0.0) for d in candidates if d in sizes}
    else:
        looked = map_batches(pool, partial(_look_at_blobs, store), candidates)
        blobs = {d: found for d, found in zip(candidates, looked, strict=True) if found}
    if cutoff is not None:
        for digest in sorted(_young(store, pool, blobs, scans, cutoff)):
            report.young.add(blobs.pop(digest)[0])
    chosen = sorted(blobs)
    taken: dict[Digest, Quarantined | None]
    if dry_run:
        taken = dict.fromkeys(chosen)
    elif cutoff is None:
        each_batch(pool, partial(delete_blobs, store), chosen, delete_batch(store))
        taken = dict.fromkeys(chosen)
    else:
        moved = map_batches(pool, partial(_quarantine, store, batch), chosen)
        taken = {d: e for d, e in zip(chosen, moved, strict=True) if e is not None}
    tally = report.deleted if cutoff is None else report.quarantined
    for digest in taken:
        size = blobs[digest][0]
        tally.add(size)
        report.swept.append(digest, size)
    return taken


def _look_at_blobs(store: ScannableStore, digests: list[Digest]) -> list[_Blob | None]:
    """Each blob's size and mtime; None when it is not a blob to take out of the tree.

    A folder without data is no blob to the registry either, and may be one being
    committed right now (the registry makes the folder, then renames the data into it);
    a symlink is the registry's to follow, never regsweep's to move or delete through.
    """
    found = stat_each(store, [layout.blob_data(d) for d in digests])
    return [None if f is None or f.is_link else (f.size, f.mtime) for f in found]


def _quarantine(
    store: QuarantineStore, batch: int, digests: list[Digest]
) -> list[Quarantined | None]:
    return [quarantine_blob(store, d, batch) for d in digests]


def _young(
    store: ScannableStore,
    pool: Executor,
    blobs: Mapping[Digest, _Blob],
    scans: Iterable[RepositoryScan],
    cutoff: float,
) -> set[Digest]:
    """Blobs written, or linked into a repository, after ``cutoff``."""
    young = {d for d, (_, mtime) in blobs.items() if mtime > cutoff}
    pairs = [
        (d, scan.layer_link(d))
        for scan in scans
        for d in scan.layers
        if d in blobs and d not in young
    ]
    found = stat_all(store, pool, [link for _, link in pairs])
    young.update(d for (d, _), f in zip(pairs, found, strict=True) if f and f.mtime > cutoff)
    return young
