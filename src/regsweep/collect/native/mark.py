"""Mark: every blob that a remaining manifest revision needs, recursively.

Like the registry's collector, every revision of every repository is a root, tagged or
not, and a revision whose manifest blob is absent is skipped. Unlike the registry (2.x),
an index is followed down to its children's configs and layers, so a child that lost its
own revision still keeps its blobs. Referrers (``subject``) are not roots of their subject:
they are revisions of their own and mark what they need themselves.

Listing and reading overlap: as soon as a repository (or, on object storage, a top-level
folder) is listed, its manifests are read in batches on the same pool, and each
manifest is read once however many repositories hold it. A manifest that is missing, or
cannot be read or parsed, is noted (:attr:`Marker.missing`, :attr:`Marker.unreadable`):
the blobs it needs are unknown, and the collector keeps whatever a repository holding it
could reference.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from functools import partial

from regsweep.collect.native.scan import RepositoryScan, scan_repository
from regsweep.core.bounded import DigestSet, DigestSizes, MemoryBudget
from regsweep.core.manifests import ManifestError, parse_manifest
from regsweep.core.model import Digest, Manifest, forget_interned_digests
from regsweep.core.packed_digests import PackedDigests
from regsweep.sources.storage.store import ScannableStore

log = logging.getLogger(__name__)

#: Manifests per read task on a store whose reads take microseconds (a local folder): big
#: enough to amortise the task, small enough to spread. On object storage a read is a
#: round trip (20-150 ms) and a task costs nothing beside it: each manifest is a task of
#: its own there, since a task of 64 held a reader for 64 round trips one after another,
#: and the last tasks of a wave of manifests ran nearly alone. (On moto behind a 20 ms
#: relay the mark was no faster for it: moto, serving one request at a time, is what the
#: benchmark waits for there.)
READ_BATCH = 64

#: Reads a blob's bytes wherever it is (the tree or the quarantine); None when absent.
#: ``OSError`` when it is there but cannot be read.
BlobReader = Callable[[Digest], bytes | None]

#: Each manifest read: parsed, absent (None), or why it could not be read or parsed.
_Read = list[tuple[Digest, Manifest | str | None]]

#: What a listing hands to the marking thread: a step that files what was listed and
#: returns the manifests to read.
Filing = Callable[[], Iterable[Digest]]
#: A listing, run on the pool.
Listing = Callable[[], Filing]


@dataclass
class Marker:
    """The mark set, grown by :meth:`mark_repositories` and :meth:`mark_manifests`; its
    registry-wide parts held by ``budget`` (on disk past its limit).

    ``in_flight``: tasks (listings and read batches) on the pool at once. Bounded, so that
    what the pool returns never waits in a queue growing with the registry: the mark
    submitted every listing at once, and each one's reads as soon as it was listed, and
    held whatever the marking thread had not absorbed yet (under load, thousands of parsed
    manifests), as well as a future per task, each looked at again by every ``wait``.
    """

    store: ScannableStore
    pool: Executor
    read: BlobReader
    budget: MemoryBudget = field(default_factory=MemoryBudget)
    in_flight: int = 4
    marked: DigestSet = field(init=False)
    #: size of each marked blob as the manifests declare it (exact for manifests read)
    declared: DigestSizes = field(init=False)
    #: manifests read (or found absent): never read twice
    expanded: DigestSet = field(init=False)
    manifests: int = 0
    #: whether the manifests read share their digests' strings (interned), and the layer
    #: links are the shared strings: until the mark set goes to disk, after which the
    #: interning table and the links would be the only holders of most of them (half a
    #: million strings at a million blobs); then the links are packed
    sharing: bool = field(default=True, init=False)
    #: the scans filed while sharing, whose layer links are strings: packed when it stops
    _shared_scans: list[RepositoryScan] = field(default_factory=list, init=False)
    missing: list[Digest] = field(default_factory=list)
    #: manifests there but unreadable or unparseable, with why
    unreadable: dict[Digest, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.marked = self.budget.digest_set("mark set")
        self.declared = self.budget.digest_sizes("declared sizes")
        self.expanded = self.budget.digest_set("manifests read")

    def mark_repositories(
        self,
        names: Iterable[str],
        *,
        known: Mapping[str, frozenset[Digest]] | None = None,
        tags: bool = True,
    ) -> dict[str, RepositoryScan]:
        """List ``names`` and mark through every revision found. ``known`` (per repository)
        are revisions already marked, not looked at again: the re-mark lists only the new.
        ``tags``: also list tags and uploads, for the cleanup."""
        known = known or {}
        scans: dict[str, RepositoryScan] = {}

        def listing(name: str) -> Filing:
            scan = scan_repository(
                self.store,
                name,
                known=known.get(name, frozenset()),
                tags=tags,
                packed=not self.sharing,
            )

            def filing() -> Iterable[Digest]:
                scans[name] = scan
                self.filed((scan,))
                return scan.revisions

            return filing

        self.mark_listings((partial(listing, name) for name in names), window=self.in_flight)
        return scans

    def filed(self, scans: Iterable[RepositoryScan]) -> None:
        """Note scans kept for the rest of the run (on the marking thread): their layer
        links are packed once the manifests stop sharing their strings (now, for a scan
        listed while they still did)."""
        for scan in scans:
            if self.sharing:
                self._shared_scans.append(scan)
            else:
                _pack_layers(scan)

    def stop_sharing(self, why: str) -> None:
        """From now on, the manifests read keep their digests' strings to themselves and
        the layer links are packed, those listed already too; the interning table is let
        go of. For a mark set that is (or will be) on disk: see :attr:`sharing`."""
        log.info("memory limit: the mark's digests packed, not shared (%s)", why)
        self.sharing = False
        forget_interned_digests()
        for scan in self._shared_scans:
            _pack_layers(scan)
        self._shared_scans.clear()

    def mark_listings(self, listings: Iterable[Listing], *, window: int) -> None:
        """Run ``listings`` on the pool, at most ``window`` at once, and mark through the
        manifests each one's filing returns, reading them while the next are listed."""
        self._mark(iter(listings), max(1, window), ())

    def mark_manifests(self, digests: Iterable[Digest]) -> None:
        """Mark ``digests`` as manifests and everything they need."""
        self._mark(iter(()), 0, digests)

    def _mark(self, listings: Iterator[Listing], window: int, digests: Iterable[Digest]) -> None:
        """The marking thread: keeps at most :attr:`in_flight` tasks on the pool, of which
        ``window`` listings at most; while manifests wait to be read, a free slot goes to
        them and one listing at a time goes on (what is listed is read before much more is
        listed, and listing still overlaps reading). Each result is absorbed as it comes."""
        reads: deque[list[Digest]] = deque()
        pending: dict[Future[Filing | _Read], bool] = {}  # the task -> it is a listing
        more = True

        def fill() -> None:
            nonlocal more
            while len(pending) < self.in_flight:
                listing_now = sum(pending.values())
                if more and listing_now < window and (not reads or not listing_now):
                    listing = next(listings, None)
                    if listing is not None:
                        pending[self.pool.submit(listing)] = True
                        continue
                    more = False
                if not reads:
                    return
                pending[self.pool.submit(self._read_batch, reads.popleft())] = False

        reads.extend(self._batches(digests))
        fill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                del pending[future]
                result = future.result()
                reads.extend(self._batches(result() if callable(result) else self._absorb(result)))
            fill()

    def _batches(self, digests: Iterable[Digest]) -> list[list[Digest]]:
        """The manifests not read yet, marked, in batches to read."""
        todo = [d for d in digests if d not in self.expanded]
        self.expanded.update(todo)
        self.marked.update(todo)
        if self.sharing and self.marked.spilled:
            self.stop_sharing("the mark set went to disk")
        size = READ_BATCH if self.store.blocks_briefly else 1
        return [todo[i : i + size] for i in range(0, len(todo), size)]

    def _read_batch(self, digests: list[Digest]) -> _Read:
        """Runs on the pool: read and parse a batch of manifests."""
        found: _Read = []
        for digest in digests:
            try:
                raw = self.read(digest)
                parsed = (
                    None if raw is None else parse_manifest(digest, raw, share_digests=self.sharing)
                )
                found.append((digest, parsed))
            except (OSError, ManifestError) as exc:
                found.append((digest, f"cannot be read or parsed ({exc})"))
        return found

    def _absorb(self, results: _Read) -> list[Digest]:
        """Marking thread: mark what a batch of manifests references; return their
        children (an index's manifests), to read next."""
        children: list[Digest] = []
        for digest, manifest in results:
            if manifest is None:
                self.missing.append(digest)
                continue
            if isinstance(manifest, str):
                self.unreadable[digest] = manifest
                continue
            self.manifests += 1
            self.declared[digest] = manifest.size
            references = [*manifest.children, *manifest.layers]
            if manifest.config is not None:
                references.append(manifest.config)
            for descriptor in references:
                self.marked.add(descriptor.digest)
                if descriptor.size >= 0:
                    self.declared.setdefault(descriptor.digest, descriptor.size)
            children.extend(child.digest for child in manifest.children)
        return children


def _pack_layers(scan: RepositoryScan) -> None:
    if not isinstance(scan.layers, PackedDigests):
        scan.layers = PackedDigests.of_sorted(scan.layers)
