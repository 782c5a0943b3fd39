"""Sorted digests packed as their 32 bytes each, in one buffer.

A ``sha256:`` digest held as a string is about 120 bytes, and a sequence of them adds a
pointer each; packed, it is 32 bytes. Storage discovery holds two such sequences for the
whole run, the blob sizes' digests and each repository's layer links: while the manifests
are in memory their descriptors hold the same (interned) strings, so packing would only
add bytes, but once the manifests are on disk (``--memory-limit``) these are the only
holders of a blob's digest, and packing lets a million strings go. The native GC packs
its listing of the content store, and once its mark set is on disk its layer links and
its sweep's candidates; what it swept is a :class:`SizedDigests`.

A digest read from a packed sequence is a new string each time; finding one
(:func:`place_in`) is a bisection over the bytes, a few microseconds where a list of
strings answers in one.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, cast, overload

if TYPE_CHECKING:
    from regsweep.core.model import Digest

_PREFIX = "sha256:"
#: Bytes of a packed digest.
WIDTH = 32


def _raw(digest: object) -> bytes | None:
    """The 32 bytes of a ``sha256:`` digest; None for anything else."""
    if not isinstance(digest, str) or len(digest) != 71 or not digest.startswith(_PREFIX):
        return None
    try:
        return bytes.fromhex(digest[7:])
    except ValueError:
        return None


def _raw_of_sha256(digest: Digest) -> bytes:
    """The 32 bytes of a ``sha256:`` digest; ``ValueError`` for anything else."""
    raw = _raw(digest)
    if raw is None:
        raise ValueError(f"not a sha256 digest: {digest[:80]!r}")
    return raw


class PackedDigests(Sequence["Digest"]):
    """``sha256:`` digests in order, read-only, 32 bytes each."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytearray) -> None:
        """The digests of ``raw``, 32 bytes each, already in strictly increasing order (not
        checked: for a caller that has just sorted them; :meth:`of_raw` sorts). ``raw`` is
        held, not copied: a second buffer at its peak."""
        if len(raw) % WIDTH:
            raise ValueError(f"{len(raw)} bytes are not a whole number of digests")
        self._raw = raw

    @classmethod
    def of_raw(cls, raw: bytes | bytearray) -> PackedDigests:
        """The digests whose 32 bytes each ``raw`` holds one after another, in any order
        (equal ones held once)."""
        pieces = sorted({bytes(raw[at : at + WIDTH]) for at in range(0, len(raw), WIDTH)})
        return cls(bytearray(b"".join(pieces)))

    @classmethod
    def of_sorted(cls, digests: Iterable[Digest]) -> PackedDigests:
        """``sha256:`` digests given in strictly increasing order (not checked), packed as
        they come: never a list of them."""
        raw = bytearray()
        for digest in digests:
            raw.extend(_raw_of_sha256(digest))
        return cls(raw)

    def place(self, digest: object) -> int | None:
        """The index of ``digest``; None when it is not here (or not a digest)."""
        raw = _raw(digest)
        if raw is None:
            return None
        packed, low, high = self._raw, 0, len(self._raw) // WIDTH
        while low < high:
            middle = (low + high) // 2
            if packed[middle * WIDTH : (middle + 1) * WIDTH] < raw:
                low = middle + 1
            else:
                high = middle
        if low * WIDTH < len(packed) and packed[low * WIDTH : (low + 1) * WIDTH] == raw:
            return low
        return None

    def __len__(self) -> int:
        return len(self._raw) // WIDTH

    @overload
    def __getitem__(self, index: int) -> Digest: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Digest]: ...
    def __getitem__(self, index: int | slice) -> Digest | Sequence[Digest]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return _digest_at(self._raw, _within(index, len(self)) * WIDTH)

    def __iter__(self) -> Iterator[Digest]:
        return (_digest_at(self._raw, at) for at in range(0, len(self._raw), WIDTH))

    def __contains__(self, digest: object) -> bool:
        return self.place(digest) is not None


def place_in(digests: Sequence[Digest], digest: object) -> int | None:
    """The index of ``digest`` in ``digests`` (sorted; packed or not); None when absent."""
    if isinstance(digests, PackedDigests):
        return digests.place(digest)
    if not isinstance(digest, str):
        return None
    at = bisect_left(digests, digest)
    return at if at < len(digests) and digests[at] == digest else None


class SizedDigests(Sequence[tuple["Digest", int]]):
    """``sha256:`` digests with a size each, in the order added, 40 bytes each.

    What a garbage collection lists of every blob it swept: as a list of (digest, size)
    tuples, half a million swept blobs took about 100 MiB (a tuple, an int and a string
    each), the largest thing the collector held once its sets had gone to disk."""

    __slots__ = ("_raw", "_sizes")

    def __init__(self, pairs: Iterable[tuple[Digest, int]] = ()) -> None:
        self._raw = bytearray()
        self._sizes = array("q")
        for digest, size in pairs:
            self.append(digest, size)

    def append(self, digest: Digest, size: int) -> None:
        """One more; ``digest`` must be a ``sha256:`` digest (a blob's name in the tree)."""
        self._raw.extend(_raw_of_sha256(digest))
        self._sizes.append(size)

    def __len__(self) -> int:
        return len(self._sizes)

    @overload
    def __getitem__(self, index: int) -> tuple[Digest, int]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[Digest, int]]: ...
    def __getitem__(self, index: int | slice) -> tuple[Digest, int] | Sequence[tuple[Digest, int]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        at = _within(index, len(self))
        return _digest_at(self._raw, at * WIDTH), self._sizes[at]

    def __iter__(self) -> Iterator[tuple[Digest, int]]:
        for index, size in enumerate(self._sizes):
            yield _digest_at(self._raw, index * WIDTH), size

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SizedDigests):
            return self._raw == other._raw and self._sizes == other._sizes
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SizedDigests({list(self)!r})"


def _within(index: int, length: int) -> int:
    """``index`` of a sequence of ``length`` items, counted from the end when negative."""
    at = index + length if index < 0 else index
    if not 0 <= at < length:
        raise IndexError(index)
    return at


def _digest_at(raw: bytearray, at: int) -> Digest:
    return cast("Digest", _PREFIX + raw[at : at + WIDTH].hex())
