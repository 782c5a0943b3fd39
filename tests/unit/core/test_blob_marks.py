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
    for mark in (0, *MARKS, 3):
        exactly = {d for d in sizes if expected.get(d, 0) == mark}
        assert marks.count_only(mark) == len(exactly)
        assert marks.bytes_only(mark) == sum(sizes[d] for d in exactly)
        for digest in sizes:
            assert marks.has_only(digest, mark) is (digest in exactly)
        if mark:  # a set of the unmarked would be every blob not in a plan: never asked
            view = marks.set_of(mark)
            assert view == exactly and len(view) == len(exactly)
            assert list(view) == sorted(exactly)
            assert all(d in view for d in exactly)
            assert Digest(f"sha256:{99:064x}") not in view and 3 not in view


@given(st.dictionaries(digests, st.integers(0, 2**40), max_size=20), marks_given)
def test_marks_over_packed_sizes_answer_the_same(
    sizes: dict[Digest, int], marking: list[tuple[list[Digest], int]]
) -> None:
    """Sizes packed (the manifests on disk) give the same marks, sets and bytes."""
    listed = ListedSizes()
    for digest, size in sizes.items():
        listed.add(digest[7:], size)
    strings, packed = BlobMarks(sizes), BlobMarks(listed.in_order())
    for marked, mark in marking:
        strings.mark(marked, mark)
        packed.mark(marked, mark)
    for mark in (0, *MARKS):
        assert list(packed.only(mark)) == list(strings.only(mark))
        assert packed.bytes_only(mark) == strings.bytes_only(mark)
        assert packed.set_of(mark) == strings.set_of(mark)
