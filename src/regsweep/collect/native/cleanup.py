"""Clean what deletes leave behind: layer links to gone blobs, dead revision and tag
folders, abandoned uploads. The registry's 2.x collector leaves all of them.

Live (``cutoff`` set), only what is older than the cutoff goes, and a dead tag folder is
only pruned of empty folders: a push writes a tag's index entry before its ``current/link``,
so a tag folder without the latter may be a tag being pushed right now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from functools import partial
from itertools import islice
from typing import Protocol

from regsweep.collect.native.batches import (
    delete_batch,
    each_batch,
    map_batches,
    stat_all,
    stat_each,
)
from regsweep.collect.native.report import Tally
from regsweep.collect.native.scan import RepositoryScan
from regsweep.collect.native.vacuum import delete_link_files
from regsweep.core.model import Digest
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import DeletingStore, ReadableStore, ScannableStore

#: Layer links handled at once, in delete batches: a path each, built as they are handled
#: (about 10 MiB for every link of 45,000 swept blobs at once).
_LINKS_AT_ONCE = 16


class CleanupStore(ScannableStore, DeletingStore, Protocol):
    """What the cleanup takes: a look again at each link and folder, in batches, just
    before it deletes them."""


def remove_layer_links(
    store: CleanupStore,
    pool: Executor,
    scans: Iterable[RepositoryScan],
    gone: Callable[[Digest], bool],
    *,
    cutoff: float | None,
    dry_run: bool,
) -> int:
    """Remove each repository's ``_layers`` links to blobs that are ``gone`` (whatever
    the link holds: one holding garbage goes too, its blob being gone).

    The registry's 2.x collector leaves them forever: a file and a folder per swept blob per
    repository. Each link is looked at again just before (except offline on a store that
    lists flat: object storage has no symlinks, and a look is a request per link): one
    below a symlink stays, never deleted through; live, one written after ``cutoff``, or
    whose blob is back (uploaded again since the listing), stays, since an upload writes
    the blob, then its link.
    """
    look = cutoff is not None or not store.lists_flat
    deletes = delete_batch(store)
    links = ((d, s) for s in scans for d in s.layers if gone(d))
    removed = 0
    while pairs := list(islice(links, _LINKS_AT_ONCE * deletes)):
        if look:
            paths = map_batches(pool, partial(_still_to_remove, store, cutoff), pairs)
        else:
            paths = [scan.layer_link(d) for d, scan in pairs]
        if not dry_run:
            each_batch(pool, partial(delete_link_files, store), paths, deletes)
        removed += len(paths)
    return removed


def _still_to_remove(
    store: ScannableStore, cutoff: float | None, pairs: list[tuple[Digest, RepositoryScan]]
) -> list[str]:
    """Of a batch of layer links (blob, repository), the paths still to remove; looked at
    batch by batch, so that what a look returns is never held for every link at once."""
    paths = [scan.layer_link(d) for d, scan in pairs]
    links = stat_each(store, paths)
    blobs = (
        stat_each(store, [layout.blob_data(d) for d, _ in pairs])
        if cutoff is not None
        else [None] * len(pairs)
    )
    return [
        path
        for path, link, blob in zip(paths, links, blobs, strict=True)
        if link is not None
        and not link.is_link
        and (cutoff is None or (link.mtime <= cutoff and blob is None))
    ]


def remove_dead_folders(
    store: CleanupStore,
    pool: Executor,
    scans: Iterable[RepositoryScan],
    *,
    cutoff: float | None,
    dry_run: bool,
) -> int:
    """Remove revision folders without a link (an API delete leaves them) and tag folders
    without ``current/link``; how many folders went (would go)."""
    scans = list(scans)
    revisions = [f for s in scans for f in s.dead_revisions]
    tags = [f for s in scans for f in s.dead_tags]
    if cutoff is not None:
        revisions = _older(store, pool, revisions, cutoff)
        tags = _older(store, pool, tags, cutoff)
    if dry_run:
        return len(revisions) + len(tags)
    removed = sum(map_batches(pool, lambda part: [store.remove_empty_folders(part)], revisions))
    for tag in tags:
        if cutoff is None:
            removed += store.delete_tree(tag)
        else:
            removed += store.remove_empty_folders(_subfolders_deepest_first(store, tag))
    return removed


def remove_uploads(
    store: DeletingStore, scans: Iterable[RepositoryScan], *, older_than: float, dry_run: bool
) -> Tally:
    """Remove uploads whose last write is older than ``older_than`` (epoch seconds).

    The last write, not the start: a slow client resuming a big upload keeps writing its
    data, and removing it mid-way fails the push.
    """
    removed = Tally()
    for folder in (u for s in scans for u in s.uploads):
        try:
            files = list(store.list_files(folder))
        except FileNotFoundError:  # finished (and removed by the registry) while listed
            continue
        itself = store.stat(folder)
        latest = max([f.mtime for f in files] + [itself.mtime if itself else 0.0])
        if latest < older_than:
            removed.add(sum(f.size for f in files))
            if not dry_run:
                store.delete_tree(folder)
    return removed


def _older(
    store: ScannableStore, pool: Executor, folders: Sequence[str], cutoff: float
) -> list[str]:
    found = stat_all(store, pool, folders)
    return [f for f, s in zip(folders, found, strict=True) if s is not None and s.mtime <= cutoff]


def _subfolders_deepest_first(store: ReadableStore, top: str) -> list[str]:
    """``top`` and every name below it (files too: removing those as folders fails)."""
    found = [top]
    stack = [top]
    while stack:
        folder = stack.pop()
        children = [f"{folder}/{name}" for name in store.list_dir(folder)]
        found.extend(children)
        stack.extend(children)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)
