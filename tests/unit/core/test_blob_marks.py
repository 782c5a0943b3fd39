"""Marks on the content store's blobs, a bit at each blob's place, answer as sets would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from regsweep.core.blob_marks import BlobMarks
from regsweep.core.model import Digest
from regsweep.core.sorted_sizes import ListedSizes

digests = st.integers(0, 30).map(lambda i: Digest(f"sha256:{i:064x}"))
MARKS = (1, 2, 4)
marks_given = st.lists(st.tuples(st.lists(digests, max_size=8), st.sampled_from(MARKS)))


@given(st.dictionaries(digests, st.integers(0, 2**40), max_size=20), marks_given)
def test_marks_answer_as_sets(
    sizes: dict[Digest, int], marking: list[tuple[list[Digest], int]]
) -> None:
    expected: dict[Digest, int] = {}
    for marked, mark in marking:
        for digest in marked:
            if digest in sizes:  # a blob missing from the store is never counted
                expected[digest] = expected.get(digest, 0) | mark
    marks = BlobMarks(sizes)
    for marked, mark in marking:
        marks.mark(marked, mark)
    for mark in MARKS:
        assert list(marks.only(mark)) == sorted(d for d, m in expected.items() if m == mark)
        for digest in sizes:
            assert marks.has(digest, mark) is bool(expected.get(digest, 0) & mark)
    assert not marks.has(Digest(f"sha256:{99:064x}"), 1)
    assert marks.unmarked_bytes() == sum(n for d, n in sizes.items() if d not in expected)


def test_packed_sizes_give_digests_of_their_own() -> None:
    """The planner's freed blobs are estimated as their own strings when the sizes are
    packed: each digest they give is then a new string, held by nothing else."""
    sizes = {Digest(f"sha256:{i:064x}"): i for i in range(3)}
    assert BlobMarks(sizes).shares_digests
    listed = ListedSizes()
    for digest, size in sizes.items():
        listed.add(digest[7:], size)
    packed = BlobMarks(listed.in_order())
    assert not packed.shares_digests
    packed.mark([Digest(f"sha256:{1:064x}")], 1)
    assert list(packed.only(1)) == [Digest(f"sha256:{1:064x}")]
