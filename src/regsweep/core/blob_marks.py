"""Marks on the blobs of a registry's content store, over the whole registry.

The planner marks every blob some revision keeps and every blob a deleted revision
references; ``du`` marks every blob used, and used twice. As sets, each mark took a hash
table slot per blob (about 40 bytes, the table allocated at once as it doubles): at a
million blobs, the planner's two sets were tens of megabytes at the peak of a plan. With
the sizes in digest order (:class:`~regsweep.core.sorted_sizes.SortedSizes`), every mark
of a blob is a bit of one byte at its place: a megabyte at a million blobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Set

from regsweep.core.model import Digest
from regsweep.core.sorted_sizes import SortedSizes


class BlobMarks:
    """Marks (bits: 1, 2, 4, ...) on the blobs of ``sizes``, the content store (sorted
    first unless they are a :class:`SortedSizes`); a digest that is not a blob there (a
    missing layer) is never marked."""

    def __init__(self, sizes: Mapping[Digest, int]) -> None:
        self._sizes = SortedSizes.of(sizes)
        self._marks = bytearray(len(self._sizes))

    def mark(self, digests: Iterable[Digest], mark: int) -> None:
        """Mark each of ``digests`` with ``mark``."""
        place, marks = self._sizes.place, self._marks
        for digest in digests:
            at = place(digest)
            if at is not None:
                marks[at] |= mark

    def has(self, digest: Digest, mark: int) -> bool:
        """Whether ``digest`` has ``mark``."""
        at = self._sizes.place(digest)
        return at is not None and bool(self._marks[at] & mark)

    def only(self, mark: int) -> Iterator[Digest]:
        """The blobs that have ``mark`` and no other, in digest order."""
        return (d for d, m in zip(self._sizes.digests, self._marks, strict=True) if m == mark)

    def has_only(self, digest: object, mark: int) -> bool:
        """Whether ``digest`` is a blob that has ``mark`` and no other."""
        at = self._sizes.place(digest)
        return at is not None and self._marks[at] == mark

    def count_only(self, mark: int) -> int:
        """How many blobs have ``mark`` and no other (no mark at all: 0)."""
        return self._marks.count(mark)

    def bytes_only(self, mark: int) -> int:
        """The bytes of the blobs that have ``mark`` and no other (no mark at all: 0)."""
        return sum(n for n, m in zip(self._sizes.values(), self._marks, strict=True) if m == mark)

    def set_of(self, mark: int) -> Set[Digest]:
        """The blobs that have ``mark`` and no other, as a read-only set over these marks:
        the plan's freed blobs were a set of their own, a slot and (with packed sizes) a
        string each, 60 MiB at a million blobs, where the marks are a byte a blob."""
        return _Only(self, mark)


class _Only(Set[Digest]):
    """:meth:`BlobMarks.set_of`."""

    __slots__ = ("_count", "_mark", "_marks")

    def __init__(self, marks: BlobMarks, mark: int) -> None:
        self._marks, self._mark = marks, mark
        self._count = marks.count_only(mark)  # the marks are not changed after

    def __contains__(self, digest: object) -> bool:
        return self._marks.has_only(digest, self._mark)

    def __iter__(self) -> Iterator[Digest]:
        return self._marks.only(self._mark)

    def __len__(self) -> int:
        return self._count
