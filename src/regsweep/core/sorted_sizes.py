"""The sizes of a registry's blobs in digest order: each blob has a place.

Storage discovery holds the size of every blob of the content store for the whole run, and
the planner and ``du`` each mark every blob once or twice (used, kept, dropped). As a dict
and sets, that is a hash table slot per blob per structure, about 40 bytes each, with a
table allocated at once as it doubles. In digest order, the sizes take a pointer (the
digest strings are the inventory's) and 8 bytes a blob, and any mark over every blob is a
byte at the blob's place in a ``bytearray``, found by bisection: at a million blobs, a few
megabytes where the dict and the sets took over a hundred.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence

from regsweep.core.bounded import DigestSizes
from regsweep.core.model import Digest
from regsweep.core.packed_digests import PackedDigests, place_in


class SortedSizes(Mapping[Digest, int]):
    """Digest to size, read-only, in digest order; :meth:`place` is a blob's index."""

    __slots__ = ("_digests", "_sizes")

    def __init__(self, digests: Sequence[Digest], sizes: array[int]) -> None:
        """``digests`` in order, each with its size at the same index: see :meth:`of` and
        :meth:`in_order`."""
        self._digests = digests
        self._sizes = sizes

    @classmethod
    def of(cls, sizes: Mapping[Digest, int]) -> SortedSizes:
        """``sizes`` in digest order: themselves when they already are; a budget's map on
        disk read in its own order, one pass rather than a lookup a digest."""
        if isinstance(sizes, SortedSizes):
            return sizes
        if isinstance(sizes, DigestSizes) and sizes.spilled:
            return cls.in_order(sizes.items())  # in digest order once on disk
        digests = sorted(sizes)
        return cls(digests, array("q", (sizes[d] for d in digests)))

    @classmethod
    def in_order(cls, items: Iterable[tuple[Digest, int]]) -> SortedSizes:
        """Made from ``items`` already in digest order (as an on-disk store reads back),
        without a sorted copy; raises ``ValueError`` on one out of order."""
        digests: list[Digest] = []
        sizes = array("q")
        for digest, size in items:
            if digests and digest <= digests[-1]:
                raise ValueError(f"not in digest order: {digest} after {digests[-1]}")
            digests.append(digest)
            sizes.append(size)
        return cls(digests, sizes)

    def packed(self) -> SortedSizes:
        """The same sizes with the digests packed (:mod:`regsweep.core.packed_digests`):
        32 bytes a blob where a string held by nothing else is about 120 and its pointer 8,
        each lookup a bisection over bytes, slower."""
        if isinstance(self._digests, PackedDigests):
            return self
        digests = PackedDigests(self._digests)  # strictly increasing: none is dropped
        return SortedSizes(digests, self._sizes)

    @property
    def digests(self) -> Sequence[Digest]:
        """Every digest, in order: ``digests[place(d)] == d``."""
        return self._digests

    def place(self, digest: object) -> int | None:
        """The index of ``digest`` among :attr:`digests`; None when it is not a blob here."""
        return place_in(self._digests, digest)

    def __getitem__(self, digest: Digest) -> int:
        at = self.place(digest)
        if at is None:
            raise KeyError(digest)
        return self._sizes[at]

    def get(self, digest: Digest, default: int | None = None) -> int | None:  # type: ignore[override]
        at = self.place(digest)
        return default if at is None else self._sizes[at]

    def __contains__(self, digest: object) -> bool:
        return self.place(digest) is not None

    def __len__(self) -> int:
        return len(self._digests)

    def __iter__(self) -> Iterator[Digest]:
        return iter(self._digests)

    def values(self) -> Iterator[int]:  # type: ignore[override]
        return iter(self._sizes)

    def items(self) -> Iterator[tuple[Digest, int]]:  # type: ignore[override]
        return zip(self._digests, self._sizes, strict=True)
