"""regsweep's own garbage collector: mark, sweep, re-mark, purge, clean up.

Written against :class:`~regsweep.sources.storage.store.Store` only, so any store (a local
folder, object storage) runs the same collection. Two modes:

- **live** (default): the registry may be serving pushes. Blobs and layer links younger
  than ``grace`` stay; swept blobs go to the quarantine, not away; after the sweep the
  manifests pushed since the mark began are marked and what they need is moved back;
  quarantined blobs are deleted by a later run once unreferenced for ``quarantine_delay``.
- **offline**: the registry is stopped or read-only. No grace, no quarantine: unreferenced
  blobs are deleted at once (and anything left in the quarantine is settled).

Damage never stops it; it is worked around, so that one bad file does not keep a whole
registry from being collected (see :meth:`_Collection.work_around_damage`):

- a repository holding a manifest that is missing, unreadable or unparseable, or whose
  name is not a name, may reference any blob linked into it: every one of those stays, and
  nothing in the repository is cleaned up; everything else is collected;
- a repository whose revisions cannot be listed (a symlink, never followed) may reference
  any blob at all: no blob is swept or purged, and the report says why.

The caller restarts the registry when :attr:`GcReport.needs_restart`.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from regsweep.collect.native.batches import OBJECT_DELETES, each_batch, stat_all
from regsweep.collect.native.cleanup import remove_dead_folders, remove_layer_links, remove_uploads
from regsweep.collect.native.mark import Filing, Marker
from regsweep.collect.native.quarantine import (
    QUARANTINE,
    Quarantined,
    list_quarantine,
    purge_blobs,
    remove_empty_batches,
    restore_blobs,
)
from regsweep.collect.native.report import GcReport, Tally
from regsweep.collect.native.scan import (
    RepositoryScan,
    blob_prefixes,
    find_repositories,
    list_blobs,
    scan_files,
    scan_unnamed,
)
from regsweep.collect.native.sweep import SweepStore, sweep_blobs
from regsweep.core.bounded import SET_ENTRY_BYTES, DigestSizes, MemoryBudget
from regsweep.core.errors import OperationError
from regsweep.core.model import Digest, forget_interned_digests, shared_digest
from regsweep.core.packed_digests import PackedDigests
from regsweep.sources.storage import layout
from regsweep.sources.storage.discovery import blob_sizes_in, require_registry
from regsweep.sources.storage.listing import parts_of
from regsweep.sources.storage.store import PathEscapeError, ReadableStore, Store, StoredFile
from regsweep.state.lock import LockStore, storage_lock
from regsweep.state.spill import memory_budget

log = logging.getLogger(__name__)

#: A push uploads (or mounts) its blobs, then puts its manifest; an hour is far more than
#: that takes, even for huge layers on a slow link.
DEFAULT_GRACE = timedelta(hours=1)
#: How long a quarantined blob must stay unreferenced before it is deleted: a day of
#: chances for a push that started before a sweep to reference it and get it back.
DEFAULT_QUARANTINE_DELAY = timedelta(hours=24)
#: The registry's own upload purger deletes uploads a week old.
DEFAULT_UPLOAD_MAX_AGE = timedelta(days=7)
#: Threads for stats, moves and deletes, which wait on the filesystem's journal or the
#: network more than on the CPU. Deleting 26,000 blobs (data file and folder) on ext4 here:
#: 1 thread 5.1 s, 4-16 threads 1.1-1.5 s, 48 threads 1.5 s (more threads, more GIL
#: hand-offs). Reads use fewer: :attr:`ReadableStore.readers`.
DEFAULT_WORKERS = 16

#: Tasks on the readers' pool at once, per thread: one running, one ready to start.
_TASKS_PER_READER = 2
#: Candidates swept at a time, offline: what the sweep holds of each candidate (its size and
#: mtime, what it took) then grows with a chunk, not with the garbage (50,010 blobs swept
#: at once: the sweep's traced peak 38.3 MiB, the mark's 28.1). A multiple of the object
#: store's delete batch, so that no ``DeleteObjects`` goes out short.
SWEEP_CHUNK = 64 * OBJECT_DELETES

Progress = Callable[[str], None]


def collect_native(
    store: Store,
    *,
    dry_run: bool = False,
    offline: bool = False,
    grace: timedelta = DEFAULT_GRACE,
    quarantine_delay: timedelta = DEFAULT_QUARANTINE_DELAY,
    upload_max_age: timedelta = DEFAULT_UPLOAD_MAX_AGE,
    now: datetime,
    workers: int = DEFAULT_WORKERS,
    listings: int | None = None,
    progress: Progress | None = None,
    memory_limit: int | None = None,
) -> GcReport:
    """Collect the garbage of the registry stored in ``store`` (a dry run changes nothing).

    ``listings``: on a store that lists flat, how many listings run at once on the readers'
    pool (default: as many as it has threads); 1 lists ``repositories/`` and then
    ``blobs/``, each in one flat listing, one page after another.

    ``memory_limit``: the bytes the run may use; past a share of it the mark set, the
    blobs listed and their sizes go to disk (:mod:`regsweep.core.bounded`). None: no limit.

    Raises :class:`~regsweep.state.lock.StorageLockedError` when another regsweep works on
    the storage.
    """
    before = store.requests.by_kind.copy() if store.requests is not None else None
    require_registry(store)
    report = GcReport(offline=offline, dry_run=dry_run)
    reading = min(workers, store.readers)
    with (
        _lock(store, now, dry_run),
        ThreadPoolExecutor(max_workers=workers) as pool,
        ThreadPoolExecutor(max_workers=reading) as readers,
    ):
        pools = _Pools(pool, readers, listings or reading, reading)
        ages = (grace, quarantine_delay, upload_max_age)
        collection = _Collection(store, pools, report, now, *ages, memory_budget(memory_limit))
        with _stopped_part_way(store):
            collection.run(progress or (lambda _message: None))
    if store.requests is not None and before is not None:
        report.requests = store.requests.since(before, sum(report.phases.values()))
        log.info("requests (gc): %s", report.requests.describe())
    return report


def restore_quarantine(
    store: Store, *, dry_run: bool = False, now: datetime, workers: int = DEFAULT_WORKERS
) -> GcReport:
    """Move every quarantined blob back into the tree (``regsweep gc --restore``)."""
    require_registry(store)
    report = GcReport(offline=False, dry_run=dry_run, restore_only=True)
    with (
        _lock(store, now, dry_run),
        ThreadPoolExecutor(max_workers=workers) as pool,
        _stopped_part_way(store),
        report.phase("restore"),
    ):
        entries = [e for found in list_quarantine(store).values() for e in found]
        _restore(store, pool, entries, dry_run=dry_run, report=report)
        if not dry_run:
            remove_empty_batches(store, (e.batch for e in entries))
    return report


@contextmanager
def _stopped_part_way(store: ReadableStore) -> Iterator[None]:
    """A storage error (or a symlink met while deleting) after work began: exit 1, with
    what the user can do about what was done."""
    try:
        yield
    except (OSError, PathEscapeError) as exc:
        raise OperationError(
            f"garbage collection of {store.describe()} stopped: {exc}. Blobs it quarantined "
            "come back with `regsweep gc --restore`; if it deleted or quarantined any, "
            "restart the registry so its cache forgets them"
        ) from exc


def _lock(store: LockStore, now: datetime, dry_run: bool) -> AbstractContextManager[None]:
    """A dry run takes no lock: it writes nothing, not even the lock file. (Under ``regsweep
    run --gc native`` the run holds the lock already, and this takes it again.)"""
    if dry_run:
        return nullcontext()
    return storage_lock(store, now=now, command="gc", tidy=[QUARANTINE])


def _restore(
    store: SweepStore,
    pool: Executor,
    entries: list[Quarantined],
    *,
    dry_run: bool,
    report: GcReport,
) -> None:
    sizes = stat_all(store, pool, [e.data for e in entries])
    if not dry_run:
        each_batch(pool, partial(restore_blobs, store), entries)
    for found in sizes:
        report.restored.add(found.size if found else 0)


@dataclass(frozen=True)
class _Pools:
    """``work``: stats, moves and deletes, which wait on the filesystem's journal or the
    network. ``readers``: listings and manifest reads, on ``reading`` threads (as many as
    suit the store), of which ``listings`` at most are listings (a store that lists
    flat)."""

    work: Executor
    readers: Executor
    listings: int
    reading: int


class _Collection:
    """One run, phase by phase; each method is one phase of the report."""

    def __init__(
        self,
        store: Store,
        pools: _Pools,
        report: GcReport,
        now: datetime,
        grace: timedelta,
        quarantine_delay: timedelta,
        upload_max_age: timedelta,
        budget: MemoryBudget,
    ) -> None:
        self.store, self.pool, self.readers, self.report = store, pools.work, pools.readers, report
        self.listings = pools.listings
        self.live = not report.offline
        self.dry_run = report.dry_run
        self.batch = math.floor(now.timestamp())
        self.cutoff = (now - grace).timestamp() if self.live else None
        self.purge_before = (now - quarantine_delay).timestamp() if self.live else math.inf
        self.upload_cutoff = (now - upload_max_age).timestamp()
        #: the registry-wide sets (marked, present, held) and sizes
        self.budget = budget
        self.present = budget.digest_set("blobs present")
        #: swept by this run into the quarantine (or would be, in a dry run)
        self.held = budget.digest_set("blobs held")
        self.quarantine: dict[Digest, list[Quarantined]] = {}
        # reads through a function, not a method: a marker holding the collection would
        # make a cycle, and the whole run's state would outlive it until the cyclic
        # garbage collector passes (30 MiB at 100,000 blobs, while the report is written)
        self.marker = Marker(
            store,
            self.readers,
            partial(_read_manifest, store, self.quarantine),
            budget,
            in_flight=_TASKS_PER_READER * pools.reading,
        )
        self.scans: dict[str, RepositoryScan] = {}
        #: each blob's size, when the store listed them flat (object storage)
        self.sizes: DigestSizes | None = None
        #: repositories kept whole (every blob linked into them), and why
        self.damaged: dict[str, str] = {}
        #: repositories whose revisions cannot be listed, and why: nothing is swept
        self.blind: dict[str, str] = {}

    def run(self, say: Progress) -> None:
        say("marking")
        with self.report.phase("mark"):
            self.mark()
        say("sweeping")
        with self.report.phase("sweep"):
            self.sweep()
        if self.live and not self.dry_run:
            say("marking what was pushed meanwhile")
            with self.report.phase("re-mark"):
                self.remark()
        self._count_marks()
        say("purging the quarantine")
        with self.report.phase("purge"):
            self.purge()
        say("cleaning up")
        with self.report.phase("cleanup"):
            self.cleanup()

    def mark(self) -> None:
        if self.store.lists_flat:
            self.quarantine.update(list_quarantine(self.store))  # the mark may read there
            self.scans = self._mark_listed(tags=True, blobs=True)
            self.present.update(self.sizes or ())
        else:
            listing = self._start_blob_listing()
            self.quarantine.update(list_quarantine(self.store))
            self.scans = self._mark_repositories()
            self.present.update(_shared(listing))
        # Every digest the sweep and the cleanup compare is held by now: the interning
        # table would keep the strings of the manifests read and let go until the run ends.
        forget_interned_digests()
        report = self.report
        report.repositories, report.blobs = len(self.scans), len(self.present)
        self.work_around_damage(self.scans.values())
        self._restore_marked()

    def work_around_damage(self, scans: Iterable[RepositoryScan]) -> None:
        """Keep what damaged repositories could still reference; note the blind ones.

        A manifest the mark could not read may need any blob its repository serves, and
        the registry serves a manifest's config and layers only through the repository's
        ``_layers`` links (a push is refused without them): so every blob linked there is
        marked, and the image can still be repaired by pushing its manifest again. The
        same holds for a folder whose name is not a name (renaming it back restores it).
        A repository whose revisions could not be listed at all (a symlink) may need any
        blob of the registry, as may one with damage whose ``_layers`` cannot be listed:
        then :meth:`sweep` and :meth:`purge` take nothing.
        """
        broken = set(self.marker.missing) | self.marker.unreadable.keys()
        for scan in scans:
            if scan.blind is not None:
                self.blind[scan.name] = scan.blind
                continue
            bad = sorted(scan.revisions & broken)
            if not (bad or scan.unnamed):
                continue
            why = (
                f"manifest {bad[0]} is missing or cannot be read"
                if bad
                else "its name is not a repository name"
            )
            if not scan.layers_listed:
                self.blind[scan.name] = f"{why}, and its _layers is a symlink"
                continue
            self.damaged[scan.name] = why
            keep = {*scan.layers, *scan.revisions} - self.marker.marked
            self.marker.marked |= keep
            self.report.kept_for_damage += len(keep)

    def sweep(self) -> None:
        if self.blind:
            return
        unmarked = (d for d in self.present.ordered() if d not in self.marker.marked)
        # In memory, the set's own strings (a pointer each). On disk, each is read back as
        # a string of its own: packed (32 bytes each), made strings a chunk at a time
        # (half a million candidates as strings were 65 MiB).
        candidates: Sequence[Digest] = (
            PackedDigests.of_sorted(unmarked) if self.present.spilled else list(unmarked)
        )
        # Live, each chunk would look through every repository's layer links again (for
        # one written since the cutoff): one chunk.
        chunk = SWEEP_CHUNK if self.cutoff is None else max(1, len(candidates))
        for start in range(0, len(candidates), chunk):
            taken = sweep_blobs(
                self.store,
                self.pool,
                candidates[start : start + chunk],
                self.scans.values(),
                cutoff=self.cutoff,
                batch=self.batch,
                dry_run=self.dry_run,
                report=self.report,
                sizes=self.sizes,
            )
            self.present -= taken.keys()
            if self.live:
                self.held.update(taken)
            for digest, entry in taken.items():
                if entry is not None:
                    self.quarantine.setdefault(digest, []).append(entry)

    def remark(self) -> None:
        """Mark the manifests put since the mark listed their repository, and move back at
        once what they need: the pushes that raced the sweep."""
        known = {name: frozenset(scan.revisions) for name, scan in self.scans.items()}
        self.work_around_damage(self._mark_repositories(known=known, tags=False).values())
        before = Tally(self.report.restored.count, self.report.restored.bytes)
        self._restore_marked()
        self.report.raced.count = self.report.restored.count - before.count
        self.report.raced.bytes = self.report.restored.bytes - before.bytes

    def purge(self) -> None:
        """Delete quarantined blobs still unreferenced and quarantined long enough (none
        while a repository is blind: one of them may be what it references)."""
        if self.blind:
            return
        due = [
            e
            for entries in self.quarantine.values()
            for e in entries
            # live, never what this run just quarantined; offline, this run quarantined nothing
            if (e.batch < self.batch or not self.live) and e.batch <= self.purge_before
        ]
        sizes = stat_all(self.store, self.pool, [e.data for e in due])
        if not self.dry_run:
            each_batch(self.pool, partial(purge_blobs, self.store), due)
        for entry, found in zip(due, sizes, strict=True):
            self.report.purged.add(found.size if found else 0)
            self.quarantine[entry.digest].remove(entry)
            if not self.quarantine[entry.digest]:
                del self.quarantine[entry.digest]
        if not self.dry_run:
            remove_empty_batches(self.store, (e.batch for e in due))

    def cleanup(self) -> None:
        """Clean layer links, dead folders and uploads, except in damaged or blind
        repositories: those are left exactly as they are, for whoever repairs them."""
        report = self.report
        left = self.damaged.keys() | self.blind.keys()
        scans = [s for s in self.scans.values() if s.name not in left]

        def gone(digest: Digest) -> bool:
            return not (digest in self.present or digest in self.quarantine or digest in self.held)

        report.layer_links_removed = remove_layer_links(
            self.store, self.pool, scans, gone, cutoff=self.cutoff, dry_run=self.dry_run
        )
        report.folders_removed = remove_dead_folders(
            self.store, self.pool, scans, cutoff=self.cutoff, dry_run=self.dry_run
        )
        report.uploads_removed = remove_uploads(
            self.store, scans, older_than=self.upload_cutoff, dry_run=self.dry_run
        )

    def _count_marks(self) -> None:
        report, marker = self.report, self.marker
        report.manifests = marker.manifests
        report.marked.count = len(marker.marked)
        report.marked.bytes = sum(marker.declared.values())
        report.problems += [
            f"{layout.blob_data(d)}: manifest missing (a revision or an index needs it)"
            for d in sorted(marker.missing)
        ]
        report.problems += [
            f"{layout.blob_data(d)}: manifest {why}" for d, why in sorted(marker.unreadable.items())
        ]
        report.damaged = {
            f"{layout.REPOSITORIES}/{name}": why for name, why in sorted(self.damaged.items())
        }
        report.sweep_skipped = [
            f"{layout.REPOSITORIES}/{name}: {why}" for name, why in sorted(self.blind.items())
        ]

    def _start_blob_listing(self) -> deque[Future[Sequence[Digest]]]:
        """List the content store folder by folder on the pool while the repositories are
        marked. The first folder is listed first: the blobs are spread evenly over the
        folders by their hash, so it tells about how many there are, and so whether the
        mark shares its digests' strings (then each folder is listed as the shared
        strings: one string a blob, which the layer links and the mark set point to
        too) or packs them (32 bytes a blob)."""
        prefixes = blob_prefixes(self.store)
        if not prefixes:
            return deque()
        # packed whatever is decided: a 256th of the blobs, each found a string later
        first = self.readers.submit(list_blobs, self.store, prefixes[0], packed=True)
        expected = len(first.result()) * len(prefixes)
        if self.budget.passes(expected * SET_ENTRY_BYTES):
            self.marker.stop_sharing(f"about {expected} blobs")
        packed = not self.marker.sharing
        rest = (self.readers.submit(list_blobs, self.store, p, packed=packed) for p in prefixes[1:])
        return deque([first, *rest])

    def _mark_repositories(
        self, *, known: dict[str, frozenset[Digest]] | None = None, tags: bool = True
    ) -> dict[str, RepositoryScan]:
        """List every repository and mark through its revisions: folder by folder, or
        (a store that lists flat) runs of the folders of ``repositories/`` listed at
        once."""
        if self.store.lists_flat:
            return self._mark_listed(tags=tags, blobs=False)
        found = find_repositories(self.store)
        scans = self.marker.mark_repositories(found.names, known=known, tags=tags)
        for folder in found.unnamed:
            scans[folder] = scan_unnamed(self.store, folder)
            self.marker.mark_manifests(scans[folder].revisions)
        for folder in found.symlinked:
            scans[folder] = RepositoryScan(folder, blind="a symlink, not followed")
        return scans

    def _mark_listed(self, *, tags: bool, blobs: bool) -> dict[str, RepositoryScan]:
        """A store that lists flat: ``repositories/`` (and, with ``blobs``, the content
        store, whose listing gives each blob's size) in runs of folders, :attr:`listings`
        at once on the readers' pool; the manifests of each run's repositories are read as
        soon as it is listed, while the next runs are. A top-level folder holds whole
        repositories, and is whole in one run."""
        scans: dict[str, RepositoryScan] = {}
        listed_sizes = self.budget.digest_sizes("blob sizes")

        def repositories(listing: Callable[[], Iterable[StoredFile]]) -> Filing:
            found = scan_files(listing(), tags=tags, packed=not self.marker.sharing)

            def filing() -> Iterable[Digest]:
                scans.update(found)
                self.marker.filed(found.values())
                return [d for scan in found.values() for d in scan.revisions]

            return filing

        def sizes(listing: Callable[[], Iterable[StoredFile]]) -> Filing:
            found = blob_sizes_in(listing(), [])

            def filing() -> Iterable[Digest]:
                listed_sizes.update(found)
                return ()

            return filing

        listings = [
            partial(repositories, listing)
            for listing in parts_of(self.store, layout.REPOSITORIES, self.listings)
        ]
        if blobs:
            listings += [
                partial(sizes, listing)
                for listing in parts_of(self.store, layout.SHA256_BLOBS, self.listings)
            ]
        self.marker.mark_listings(listings, window=self.listings)
        if blobs:
            self.sizes = listed_sizes
        return scans

    def _restore_marked(self) -> None:
        """Quarantined blobs that a manifest needs again go back now."""
        needed = [d for d in self.quarantine if d in self.marker.marked]
        entries = [e for d in needed for e in self.quarantine.pop(d)]
        _restore(self.store, self.pool, entries, dry_run=self.dry_run, report=self.report)
        self.present.update(needed)


def _shared(listing: deque[Future[Sequence[Digest]]]) -> Iterator[Digest]:
    """Every digest listed, each folder's listing let go of once gone through; each the
    string the mark interned when there is one (a marked blob's is held by the mark set
    already, when it is in memory)."""
    while listing:
        for digest in listing.popleft().result():
            yield shared_digest(digest)


def _read_manifest(
    store: ReadableStore, quarantine: dict[Digest, list[Quarantined]], digest: Digest
) -> bytes | None:
    """A manifest's bytes from the tree, else from the quarantine; None when absent."""
    path = layout.blob_data(digest)
    try:
        return store.read(path)
    except (FileNotFoundError, NotADirectoryError):
        pass
    if store.stat(path) is not None:
        raise OSError(f"{path} exists but cannot be read (a symlink?)")
    for entry in quarantine.get(digest, ()):
        try:
            return store.read(entry.data)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None
