"""Marks on the content store's blobs answer the same as a byte at each blob's place (the
sizes in memory) and as spilling sets (the sizes on disk)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from regsweep.core.blob_marks import BlobMarks
from regsweep.core.model import Digest
from regsweep.state.spill import memory_budget

digests = st.integers(0, 30).map(lambda i: Digest(f"sha256:{i:064x}"))
MARKS = {1: "first", 2: "second", 4: "third"}
marks_given = st.lists(st.tuples(st.lists(digests, max_size=8), st.sampled_from(list(MARKS))))


@given(st.dictionaries(digests, st.integers(0, 2**40), max_size=20), marks_given)
def test_marks_in_memory_and_on_disk_agree_with_sets(
    sizes: dict[Digest, int], marking: list[tuple[list[Digest], int]]
) -> None:
    expected: dict[Digest, int] = {}
    for marked, mark in marking:
        for digest in marked:
            if digest in sizes:  # a blob missing from the store is never counted
                expected[digest] = expected.get(digest, 0) | mark
    budget = memory_budget(0, batch=1)
    on_disk_sizes = budget.digest_sizes("blob sizes")
    on_disk_sizes.update(sizes)
    for held in (sizes, on_disk_sizes):
        marks = BlobMarks(held, budget, MARKS)
        for marked, mark in marking:
            marks.mark(marked, mark)
        for mark in MARKS:
            assert set(marks.only(mark)) == {d for d, m in expected.items() if m == mark}
            for digest in sizes:
                assert marks.has(digest, mark) is bool(expected.get(digest, 0) & mark)
        assert marks.unmarked_bytes() == sum(n for d, n in sizes.items() if d not in expected)
        marks.close()
