"""What a collection did (or, in a dry run, would do), phase by phase: plain data, as
JSON with ``to_json``; the CLI renders it for people (:mod:`regsweep.cli.render_gc`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from regsweep.core.packed_digests import SizedDigests
from regsweep.sources.requests import RequestCounts


@dataclass(slots=True)
class Tally:
    """A number of blobs (or uploads) and their bytes."""

    count: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        """One more, of ``size`` bytes; an unknown (negative) size adds no bytes."""
        self.count += 1
        self.bytes += max(size, 0)

    def to_json(self) -> dict[str, int]:
        """The count and the bytes, for the JSON report."""
        return {"count": self.count, "bytes": self.bytes}


@dataclass
class GcReport:
    """Counts, bytes and seconds of one collection (``regsweep gc``, ``--gc native``)."""

    offline: bool
    dry_run: bool
    restore_only: bool = False
    repositories: int = 0
    manifests: int = 0
    blobs: int = 0
    #: blobs the manifests need; bytes as the manifests declare them (no stat per blob)
    marked: Tally = field(default_factory=Tally)
    #: unreferenced but younger than the grace period, or linked less long ago than it
    young: Tally = field(default_factory=Tally)
    deleted: Tally = field(default_factory=Tally)
    quarantined: Tally = field(default_factory=Tally)
    restored: Tally = field(default_factory=Tally)
    #: of those, restored by the re-mark: swept by this run, needed by a push made during it
    raced: Tally = field(default_factory=Tally)
    purged: Tally = field(default_factory=Tally)
    layer_links_removed: int = 0
    folders_removed: int = 0
    uploads_removed: Tally = field(default_factory=Tally)
    #: every blob deleted or quarantined, with its size: what a dry run lists
    swept: SizedDigests = field(default_factory=SizedDigests)
    phases: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: repositories kept whole because of damage (every blob linked into them), and why
    damaged: dict[str, str] = field(default_factory=dict)
    #: blobs marked only because a damaged repository links them
    kept_for_damage: int = 0
    #: why no blob was swept nor purged (repositories whose revisions cannot be listed)
    sweep_skipped: list[str] = field(default_factory=list)
    #: the requests sent to a store that counts them (object storage), by kind
    requests: RequestCounts | None = None

    @property
    def complete(self) -> bool:
        """Every repository was collected: none was kept whole nor stopped the sweep."""
        return not (self.damaged or self.sweep_skipped)

    @property
    def needs_restart(self) -> bool:
        """The registry must restart: its blob-descriptor cache may still claim that blobs
        taken out of the tree exist, and a push would then skip uploading them (#1803)."""
        return not self.dry_run and (self.deleted.count + self.quarantined.count) > 0

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name``; a phase run twice (the re-mark) adds up."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - started

    def to_json(self, *, lazily: bool = False) -> dict[str, object]:
        """The whole report for ``--output json``: every swept blob and every problem, where
        the text shows the first problems only. ``lazily``: the swept blobs an iterator,
        each made as it is written (:meth:`regsweep.cli.terminal.Terminal.json`), not a
        list (half a million of them as dicts took 170 MiB)."""
        swept = ({"digest": d, "bytes": size} for d, size in self.swept)
        return {
            "mode": "restore" if self.restore_only else "offline" if self.offline else "live",
            "dry_run": self.dry_run,
            "repositories": self.repositories,
            "manifests": self.manifests,
            "blobs": self.blobs,
            "marked": self.marked.to_json(),
            "young": self.young.to_json(),
            "deleted": self.deleted.to_json(),
            "quarantined": self.quarantined.to_json(),
            "restored": self.restored.to_json(),
            "raced": self.raced.to_json(),
            "purged": self.purged.to_json(),
            "layer_links_removed": self.layer_links_removed,
            "folders_removed": self.folders_removed,
            "uploads_removed": self.uploads_removed.to_json(),
            "needs_restart": self.needs_restart,
            "swept": swept if lazily else list(swept),
            "seconds": {name: round(s, 3) for name, s in self.phases.items()},
            "problems": self.problems,
            "damaged": self.damaged,
            "kept_for_damage": self.kept_for_damage,
            "sweep_skipped": self.sweep_skipped,
            **({"requests": self.requests.to_json()} if self.requests is not None else {}),
        }
