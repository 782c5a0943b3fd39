"""The sizes of a registry's blobs in digest order: each blob has a place.

Storage discovery holds the size of every blob of the content store for the whole run, and
the planner and ``du`` each mark every blob once or twice (used, kept, dropped). As a dict
and sets, that is a hash table slot per blob per structure, about 40 bytes each, with a
table allocated at once as it doubles. In digest order, the sizes take a pointer (the
digest strings are the inventory's) and 8 bytes a blob, or 40 packed (while the tree is
listed, :class:`ListedSizes`, and once the manifests are on disk), and any mark over every
blob is a byte at the blob's place in a ``bytearray``, found by bisection: at a million
blobs, a few megabytes where the dict and the sets took over a hundred.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence

from regsweep.core.model import Digest, intern_digest
from regsweep.core.packed_digests import WIDTH, PackedDigests, place_in


class SortedSizes(Mapping[Digest, int]):
    """Digest to size, read-only, in digest order; :meth:`place` is a blob's index."""

    __slots__ = ("_digests", "_sizes")

    def __init__(self, digests: Sequence[Digest], sizes: array[int]) -> None:
        """``digests`` in order, each with its size at the same index: see :meth:`of` and
        :meth:`ListedSizes.in_order`."""
        self._digests = digests
        self._sizes = sizes

    @classmethod
    def of(cls, sizes: Mapping[Digest, int]) -> SortedSizes:
        """``sizes`` in digest order: themselves when they already are."""
        if isinstance(sizes, SortedSizes):
            return sizes
        digests = sorted(sizes)
        return cls(digests, array("q", (sizes[d] for d in digests)))

    def interned(self) -> SortedSizes:
        """The same sizes, each digest the shared string
        (:func:`~regsweep.core.model.intern_digest`): a pointer a blob, where packed it is
        32 bytes, when every digest's string is held elsewhere anyway."""
        return SortedSizes([intern_digest(d) for d in self._digests], self._sizes)

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


class ListedSizes:
    """Blob sizes as a listing of ``blobs/sha256`` finds them, 40 bytes a blob from the
    first: each digest's 32 bytes and its size, filed by the folder the registry keeps
    the blob in (its first two hex digits). Held as a dict of digest strings until the
    listing ended, a million blobs took over 200 MiB (the strings, the interning table,
    the dict, an int each) where these take 40; and put in digest order at the end, one
    folder is sorted at a time, never a list of every blob."""

    __slots__ = ("_folders",)

    def __init__(self) -> None:
        self._folders: dict[str, tuple[bytearray, array[int]]] = {}

    def add(self, hex_: str, size: int) -> None:
        """The blob whose digest is ``sha256:<hex_>`` (64 lowercase hex digits, checked by
        the caller) has ``size`` bytes."""
        folder = self._folders.get(hex_[:2])
        if folder is None:
            folder = self._folders[hex_[:2]] = (bytearray(), array("q"))
        folder[0].extend(bytes.fromhex(hex_))
        folder[1].append(size)

    def update(self, other: ListedSizes) -> None:
        """Add every blob of ``other`` (another part of the listing)."""
        for name, (raw, sizes) in other._folders.items():
            folder = self._folders.setdefault(name, (bytearray(), array("q")))
            folder[0].extend(raw)
            folder[1].extend(sizes)

    def in_order(self) -> SortedSizes:
        """Every blob in digest order (one listed twice counted once), these let go of."""
        digests, sizes = bytearray(), array("q")
        for name in sorted(self._folders):
            raw, listed = self._folders.pop(name)
            found = {bytes(raw[WIDTH * i : WIDTH * (i + 1)]): n for i, n in enumerate(listed)}
            for digest in sorted(found):
                digests.extend(digest)
                sizes.append(found[digest])
        return SortedSizes(PackedDigests(digests), sizes)
