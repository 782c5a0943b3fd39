"""Marks on the blobs of a registry's content store, over the whole registry.

The planner marks every blob some revision keeps and every blob a deleted revision
references; ``du`` marks every blob used, and used twice. As sets, each mark took a hash
table slot per blob (about 40 bytes, the table allocated at once as it doubles): at a
million blobs, the planner's two sets were tens of megabytes at the peak of a plan. With
the sizes in digest order (:class:`~regsweep.core.sorted_sizes.SortedSizes`), every mark
of a blob is a bit of one byte at its place. When the sizes went to disk (past the memory
limit), sorting them would bring every digest back into memory: then each mark is a set
made by the budget, which spills too. The answers are the same either way; the tests
compare both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from regsweep.core.bounded import DigestSet, MemoryBudget
from regsweep.core.model import Digest
from regsweep.core.sorted_sizes import SortedSizes


class BlobMarks:
    """Marks (bits: 1, 2, 4, ...) on the blobs of ``sizes``, the content store; a digest
    that is not a blob there (a missing layer) is never counted as marked.

    ``names``: each mark's name, for the logs when its set spills.
    """

    def __init__(
        self, sizes: Mapping[Digest, int], budget: MemoryBudget, names: Mapping[int, str]
    ) -> None:
        self._sizes = sizes
        self._placed = SortedSizes.of(sizes)
        self._bytes = bytearray(len(self._placed)) if self._placed is not None else None
        self._sets: dict[int, DigestSet] = (
            {}
            if self._placed is not None
            else {m: budget.digest_set(n, held_elsewhere=True) for m, n in names.items()}
        )

    def mark(self, digests: Iterable[Digest], mark: int) -> None:
        """Mark each of ``digests`` with ``mark``."""
        if self._placed is None:
            self._sets[mark].update(digests)
            return
        assert self._bytes is not None
        place, marks = self._placed.place, self._bytes
        for digest in digests:
            at = place(digest)
            if at is not None:
                marks[at] |= mark

    def has(self, digest: Digest, mark: int) -> bool:
        """Whether ``digest``, a blob of the content store, has ``mark``."""
        if self._placed is None:
            return digest in self._sets[mark]
        assert self._bytes is not None
        at = self._placed.place(digest)
        return at is not None and bool(self._bytes[at] & mark)

    def only(self, mark: int) -> Iterator[Digest]:
        """The blobs that have ``mark`` and no other."""
        if self._placed is None:
            others = [s for m, s in self._sets.items() if m != mark]
            return (
                d for d in self._sets[mark] if d in self._sizes and not any(d in s for s in others)
            )
        assert self._bytes is not None
        return (d for d, m in zip(self._placed.digests, self._bytes, strict=True) if m == mark)

    def unmarked_bytes(self) -> int:
        """The bytes of the blobs that have no mark."""
        if self._placed is None:
            held = list(self._sets.values())
            return sum(n for d, n in self._sizes.items() if not any(d in s for s in held))
        assert self._bytes is not None
        return sum(n for n, m in zip(self._placed.values(), self._bytes, strict=True) if not m)

    def close(self) -> None:
        """Let go of the marks (the sets' files, if they went to disk)."""
        for held in self._sets.values():
            held.close()
        self._bytes = bytearray()
