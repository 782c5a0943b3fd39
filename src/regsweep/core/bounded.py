"""The registry-wide structures, held in memory until a budget says otherwise.

Most of what regsweep holds is per repository and let go as the next one is planned; a few
structures grow with the whole registry instead: the manifests discovery parsed
(:mod:`regsweep.core.manifest_map`), the GC's mark set, the sizes its manifests declare
and the blobs it lists. At ten million blobs those alone take gigabytes as Python objects.
Each of them is a :class:`DigestSet`, a :class:`DigestSizes` or a manifest map made by one
:class:`MemoryBudget`: a plain set or dict while the budget's allowance holds, handed over
whole to an on-disk store (a :class:`Spill`, SQLite in :mod:`regsweep.state.spill`) once
the estimated size of all of them passes it, the largest first. The answers are the same
either way: only where the entries live changes, and the tests compare both. (The blob
sizes and the planner's marks are compact instead: 40 bytes and one byte a blob,
:mod:`regsweep.core.sorted_sizes`, :mod:`regsweep.core.blob_marks`.)

Pure: the on-disk store is passed in from the edge, so the core never opens a file.

The size of an entry is estimated, not measured, from what ``tracemalloc`` shows for
100,000 ``sha256:`` digests: :data:`SET_ENTRY_BYTES` and :data:`SIZES_ENTRY_BYTES`, the
structure alone holding each digest string (about 120 bytes of it), as the GC's do once
the manifest that named it is let go.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import (
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    MutableSet,
)
from itertools import islice
from typing import Any, Generic, Protocol, TypeVar

from regsweep.core.model import Digest, Manifest

log = logging.getLogger(__name__)

#: Estimated bytes per entry of an in-memory :class:`DigestSet` (digest string and slot).
SET_ENTRY_BYTES = 160
#: Estimated bytes per entry of an in-memory :class:`DigestSizes` (digest, int and slot).
SIZES_ENTRY_BYTES = 200
#: The share of the memory limit the registry-wide structures may take together. The rest
#: is the interpreter and its imports (about 55 MiB), the per-repository data, the
#: on-disk store's page caches, and what discovery holds beside the manifests (the
#: repositories, tags and revisions; the blob sizes, 40 bytes a blob).
GLOBAL_SHARE = 0.25
#: Entries added between two looks at the budget, at most: a look sums every structure's
#: size, too costly for each of millions of adds, and this many entries are a few hundred
#: kilobytes of slack.
CHECK_EVERY = 1024


class DiskSet(Protocol):
    """A digest set on disk: what a :class:`DigestSet` hands over to."""

    def add_many(self, digests: Iterable[Digest]) -> None: ...
    def discard_many(self, digests: Iterable[Digest]) -> None: ...
    def __contains__(self, digest: object) -> bool: ...
    def __len__(self) -> int: ...
    #: in digest order
    def __iter__(self) -> Iterator[Digest]: ...
    def close(self) -> None: ...


class DiskSizes(Protocol):
    """A digest to size map on disk: what a :class:`DigestSizes` hands over to."""

    def put_many(self, items: Iterable[tuple[Digest, int]]) -> None: ...
    #: each digest not there yet; one there keeps its size
    def put_absent(self, items: Iterable[tuple[Digest, int]]) -> None: ...
    def get(self, digest: Digest) -> int | None: ...
    def discard_many(self, digests: Iterable[Digest]) -> None: ...
    def __len__(self) -> int: ...
    #: in digest order
    def items(self) -> Iterator[tuple[Digest, int]]: ...
    def close(self) -> None: ...


class DiskManifests(Protocol):
    """Manifests on disk, each as the bytes its codec made: what a
    :class:`~regsweep.core.manifest_map.ManifestMap` hands over to."""

    def put_many(self, items: Iterable[tuple[Digest, bytes]]) -> None: ...
    def get(self, digest: Digest) -> bytes | None: ...
    def __len__(self) -> int: ...
    #: the digests, in digest order
    def __iter__(self) -> Iterator[Digest]: ...
    def close(self) -> None: ...


class Spill(Protocol):
    """Makes the on-disk stores; each is removed when closed (or let go)."""

    def digest_set(self, name: str) -> DiskSet: ...
    def digest_sizes(self, name: str) -> DiskSizes: ...
    def manifests(self, name: str) -> DiskManifests: ...


class _OnDisk(Protocol):
    def __len__(self) -> int: ...
    def close(self) -> None: ...


_Memory = TypeVar("_Memory", set[Digest], dict[Digest, int], dict[Digest, Manifest])
_Disk = TypeVar("_Disk", bound=_OnDisk)


class Bounded(Generic[_Memory, _Disk]):
    """What the budget sees of a structure: its estimated size, and how to spill it; the
    entries in memory (a set or a dict) until they are handed over to disk."""

    def __init__(self, budget: MemoryBudget, name: str, entry_bytes: int) -> None:
        self.name = name
        self._budget = budget
        self._entry_bytes = entry_bytes
        self._memory: _Memory | None = self._empty()
        self._disk: _Disk | None = None
        self._next_review = budget.check_every(entry_bytes)

    def _empty(self) -> _Memory:
        raise NotImplementedError

    def _to_disk(self, memory: _Memory) -> _Disk:
        """A store on disk holding every entry of ``memory``."""
        raise NotImplementedError

    @property
    def spilled(self) -> bool:
        return self._disk is not None

    def estimated_bytes(self) -> int:
        return 0 if self._memory is None else len(self._memory) * self._entry_bytes

    def spill(self) -> None:
        if self._memory is None:
            return
        _log_spill(self.name, len(self._memory), self.estimated_bytes())
        self._disk = self._to_disk(self._memory)
        self._memory = None

    def _grown(self) -> None:
        if self._memory is not None and len(self._memory) >= self._next_review:
            self._budget.review(self)
            self._next_review = len(self) + self._budget.check_every(self._entry_bytes)

    def __len__(self) -> int:
        held = self._memory if self._memory is not None else self._disk
        assert held is not None
        return len(held)

    def close(self) -> None:
        """Let go of the entries (the file, once spilled)."""
        if self._disk is not None:
            self._disk.close()
        self._memory, self._disk = self._empty(), None


class MemoryBudget:
    """The allowance of the registry-wide structures, and the one place that decides when
    one of them leaves memory.

    ``limit``: the bytes the process may use (``--memory-limit``); None, or no ``spill``,
    holds everything in memory. ``share``: the part of ``limit`` the structures may take
    together (:data:`GLOBAL_SHARE`).
    """

    def __init__(
        self, limit: int | None = None, spill: Spill | None = None, *, share: float = GLOBAL_SHARE
    ) -> None:
        self.limit = limit
        self.allowance = None if limit is None or spill is None else int(limit * share)
        self._spill = spill
        #: the structures still in memory, by identity (a set is not hashable)
        self._held: dict[int, weakref.ref[Bounded[Any, Any]]] = {}

    def digest_set(self, name: str, digests: Iterable[Digest] = ()) -> DigestSet:
        """A new set, ``name`` in the logs; ``digests`` its first entries."""
        made = DigestSet(self, name)
        made.update(digests)
        return made

    def digest_sizes(self, name: str) -> DigestSizes:
        """A new digest to size map, ``name`` in the logs."""
        return DigestSizes(self, name)

    def passes(self, estimated: int) -> bool:
        """Whether ``estimated`` bytes would pass the allowance by themselves: for what is
        decided before a structure grows (the manifests go to disk from the first)."""
        return self.allowance is not None and estimated > self.allowance

    def check_every(self, entry_bytes: int) -> int:
        """How many entries a structure adds before it calls :meth:`review` again: fewer
        than :data:`CHECK_EVERY` under a small allowance, so a tiny limit spills at once."""
        if self.allowance is None:
            return CHECK_EVERY
        return max(1, min(CHECK_EVERY, self.allowance // (entry_bytes * 64)))

    def review(self, structure: Bounded[Any, Any]) -> None:
        """Spill the largest structures in memory, ``structure`` among them, while together
        they pass the allowance."""
        self._held[id(structure)] = weakref.ref(structure)
        if self.allowance is None:
            return
        alive = [s for s in (ref() for ref in self._held.values()) if s is not None]
        self._held = {id(s): weakref.ref(s) for s in alive}
        total = sum(s.estimated_bytes() for s in alive)
        for largest in sorted(alive, key=lambda s: s.estimated_bytes(), reverse=True):
            if total <= self.allowance or largest.estimated_bytes() == 0:
                break
            total -= largest.estimated_bytes()
            largest.spill()
            del self._held[id(largest)]

    def disk_set(self, name: str) -> DiskSet:
        assert self._spill is not None
        return self._spill.digest_set(name)

    def disk_sizes(self, name: str) -> DiskSizes:
        assert self._spill is not None
        return self._spill.digest_sizes(name)

    def disk_manifests(self, name: str) -> DiskManifests:
        assert self._spill is not None
        return self._spill.manifests(name)


def _log_spill(name: str, entries: int, estimated: int) -> None:
    log.info(
        "memory limit: %s spilled to disk with %d entries (about %.1f MiB in memory)",
        name,
        entries,
        estimated / 2**20,
    )


class DigestSet(MutableSet[Digest], Bounded[set[Digest], DiskSet]):
    """A set of digests, in memory until its budget spills it to disk."""

    def __init__(self, budget: MemoryBudget, name: str) -> None:
        Bounded.__init__(self, budget, name, SET_ENTRY_BYTES)

    def _empty(self) -> set[Digest]:
        return set()

    def _to_disk(self, memory: set[Digest]) -> DiskSet:
        disk = self._budget.disk_set(self.name)
        disk.add_many(memory)
        return disk

    def add(self, value: Digest) -> None:
        if self._memory is not None:
            self._memory.add(value)
            self._grown()
        else:
            assert self._disk is not None
            self._disk.add_many((value,))

    def update(self, digests: Iterable[Digest]) -> None:
        """Add every one of ``digests`` (in batches, once on disk)."""
        digests = iter(digests)
        while self._memory is not None:
            chunk = list(islice(digests, max(1, self._next_review - len(self._memory))))
            if not chunk:
                return
            self._memory.update(chunk)
            self._grown()
        assert self._disk is not None
        self._disk.add_many(digests)

    def discard(self, value: Digest) -> None:
        self.difference_update((value,))

    def difference_update(self, digests: Iterable[Digest]) -> None:
        """Remove every one of ``digests`` that is here."""
        if self._memory is not None:
            self._memory.difference_update(digests)
        else:
            assert self._disk is not None
            self._disk.discard_many(digests)

    def __contains__(self, value: object) -> bool:
        held = self._memory if self._memory is not None else self._disk
        assert held is not None
        return value in held

    def __len__(self) -> int:
        return Bounded.__len__(self)

    def __iter__(self) -> Iterator[Digest]:
        """In no particular order; :meth:`ordered` for digest order."""
        held = self._memory if self._memory is not None else self._disk
        assert held is not None
        return iter(held)

    def ordered(self) -> Iterator[Digest]:
        """Every digest in digest order, without a sorted copy once on disk."""
        if self._memory is not None:
            return iter(sorted(self._memory))
        assert self._disk is not None
        return iter(self._disk)

    def __ior__(self, other: Iterable[Digest]) -> DigestSet:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __isub__(self, other: Iterable[Digest]) -> DigestSet:  # type: ignore[misc]
        self.difference_update(other)
        return self

    @classmethod
    def _from_iterable(cls, it: Iterable[Digest]) -> set[Digest]:  # type: ignore[override]
        """What ``&``, ``|`` and ``-`` with another set make: a plain set, for the
        per-repository sets met with a registry-wide one (``used & reclaimable``)."""
        return set(it)


class DigestSizes(MutableMapping[Digest, int], Bounded[dict[Digest, int], DiskSizes]):
    """Digest to size (or to a count), in memory until its budget spills it to disk."""

    def __init__(self, budget: MemoryBudget, name: str) -> None:
        Bounded.__init__(self, budget, name, SIZES_ENTRY_BYTES)

    def _empty(self) -> dict[Digest, int]:
        return {}

    def _to_disk(self, memory: dict[Digest, int]) -> DiskSizes:
        disk = self._budget.disk_sizes(self.name)
        disk.put_many(memory.items())
        return disk

    def __getitem__(self, key: Digest) -> int:
        if self._memory is not None:
            return self._memory[key]
        assert self._disk is not None
        found = self._disk.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __setitem__(self, key: Digest, value: int) -> None:
        self.update(((key, value),))

    def __delitem__(self, key: Digest) -> None:
        if key not in self:
            raise KeyError(key)
        if self._memory is not None:
            del self._memory[key]
        else:
            assert self._disk is not None
            self._disk.discard_many((key,))

    def __contains__(self, key: object) -> bool:
        if self._memory is not None:
            return key in self._memory
        assert self._disk is not None
        return isinstance(key, str) and self._disk.get(Digest(key)) is not None

    def __len__(self) -> int:
        return Bounded.__len__(self)

    def __iter__(self) -> Iterator[Digest]:
        return (digest for digest, _ in self.items())

    def items(self) -> Iterator[tuple[Digest, int]]:  # type: ignore[override]
        """Every entry; in digest order once on disk, else in no particular order."""
        if self._memory is not None:
            return iter(self._memory.items())
        assert self._disk is not None
        return self._disk.items()

    def values(self) -> Iterator[int]:  # type: ignore[override]
        return (size for _, size in self.items())

    def update(  # type: ignore[override]
        self, entries: Mapping[Digest, int] | Iterable[tuple[Digest, int]] = ()
    ) -> None:
        """Set every entry of ``entries`` (in batches, once on disk)."""
        pairs = iter(entries.items() if isinstance(entries, Mapping) else entries)
        while self._memory is not None:
            chunk = list(islice(pairs, max(1, self._next_review - len(self._memory))))
            if not chunk:
                return
            self._memory.update(chunk)
            self._grown()
        assert self._disk is not None
        self._disk.put_many(pairs)

    def setdefault(self, key: Digest, default: int = 0) -> int:
        """The size of ``key``, set to ``default`` first when it has none."""
        if self._memory is not None:
            found = self._memory.setdefault(key, default)
            self._grown()
            return found
        assert self._disk is not None
        self._disk.put_absent(((key, default),))
        stored = self._disk.get(key)
        assert stored is not None
        return stored
