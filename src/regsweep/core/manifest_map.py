"""The manifests storage discovery parsed, in memory until the budget says otherwise.

At a million blobs and 100,000 manifests, the parsed manifests (each a
:class:`~regsweep.core.model.Manifest` and a :class:`~regsweep.core.model.Descriptor` per
reference, about a kilobyte for an image of ten layers) are a hundred megabytes, the
largest part of the inventory after the digests, and the descriptors hold every blob's
digest string besides. Under ``--memory-limit`` they are one more structure of the
:class:`~regsweep.core.bounded.MemoryBudget`: past its allowance they are handed over
whole to disk, encoded (:mod:`regsweep.core.manifest_codec`), and every later one goes
there as it is read. A manifest asked for is then decoded again, and the last
:data:`RECENT` asked for are kept: the planner reads a repository's manifests several
times (its artifacts, what its kept tags reach, the order of the deletions, the bytes).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping

from regsweep.core.bounded import Bounded, DiskManifests, MemoryBudget
from regsweep.core.manifest_codec import decode_manifest, encode_manifest
from regsweep.core.model import Digest, Manifest

log = logging.getLogger(__name__)

#: Estimated bytes of a parsed manifest beside its references, and of each reference (a
#: descriptor, 72 bytes, and its slot in a tuple): ``tracemalloc`` showed 10.3 MiB for
#: 10,002 manifests of ten references. Their digest strings are not counted: the blob
#: sizes and layer links hold the same strings.
MANIFEST_BYTES = 320
REFERENCE_BYTES = 80
#: Manifests decoded from disk kept in memory, the most recently asked for: more than a
#: repository has revisions, as a rule; each holds its own digest strings, a few kilobytes.
RECENT = 256


def estimated_bytes(manifest: Manifest) -> int:
    """What ``manifest`` takes in memory, by :data:`MANIFEST_BYTES` and
    :data:`REFERENCE_BYTES`."""
    references = len(manifest.layers) + len(manifest.children) + (manifest.config is not None)
    return MANIFEST_BYTES + REFERENCE_BYTES * references


class ManifestMap(Mapping[Digest, Manifest], Bounded[dict[Digest, Manifest], DiskManifests]):
    """Digest to parsed manifest; :meth:`add` puts one. Read-only to everyone else."""

    def __init__(self, budget: MemoryBudget, expected: int = 0, name: str = "manifests") -> None:
        """``expected``: how many manifests will be added. When that many would pass the
        budget's allowance by themselves, they go to disk from the first: filled up to the
        allowance first, they would be held whole at the moment of the spill, the peak of
        the run."""
        typical = MANIFEST_BYTES + 10 * REFERENCE_BYTES
        Bounded.__init__(self, budget, name, typical)
        self._bytes = 0
        self._recent: OrderedDict[Digest, Manifest] = OrderedDict()
        #: an inventory is read from any thread; the cache and the one connection to the
        #: file are not for two at once
        self._lock = threading.Lock()
        if budget.passes(expected * typical):
            log.info(
                "memory limit: %s spilled to disk before the first of %d is read "
                "(about %.1f MiB in memory)",
                name,
                expected,
                expected * typical / 2**20,
            )
            self._disk, self._memory = self._to_disk({}), None

    def _empty(self) -> dict[Digest, Manifest]:
        return {}

    def _to_disk(self, memory: dict[Digest, Manifest]) -> DiskManifests:
        disk = self._budget.disk_manifests(self.name)
        disk.put_many((digest, encode_manifest(m)) for digest, m in memory.items())
        return disk

    def estimated_bytes(self) -> int:
        return 0 if self._memory is None else self._bytes

    def add(self, manifest: Manifest) -> None:
        """Put ``manifest`` under its digest."""
        if self._memory is not None:
            self._memory[manifest.digest] = manifest
            self._bytes += estimated_bytes(manifest)
            self._grown()
            return
        assert self._disk is not None
        self._disk.put_many(((manifest.digest, encode_manifest(manifest)),))

    def __getitem__(self, digest: Digest) -> Manifest:
        if self._memory is not None:
            return self._memory[digest]
        with self._lock:
            found = self._recent.get(digest)
            if found is not None:
                self._recent.move_to_end(digest)
                return found
            assert self._disk is not None
            data = self._disk.get(digest) if isinstance(digest, str) else None
            if data is None:
                raise KeyError(digest)
            manifest = self._recent[digest] = decode_manifest(data)
            if len(self._recent) > RECENT:
                self._recent.popitem(last=False)
            return manifest

    def __contains__(self, digest: object) -> bool:
        if self._memory is not None:
            return digest in self._memory
        try:
            self[digest]  # type: ignore[index]
        except KeyError:
            return False
        return True  # and decoded: the planner asks for what it has just checked

    def __len__(self) -> int:
        return Bounded.__len__(self)

    def __iter__(self) -> Iterator[Digest]:
        if self._memory is not None:
            return iter(self._memory)
        assert self._disk is not None
        return iter(self._disk)

    def close(self) -> None:
        Bounded.close(self)
        self._recent.clear()
        self._bytes = 0
