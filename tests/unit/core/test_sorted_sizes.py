"""The blob sizes in digest order answer as the dict they were made from, and give every
blob its place."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from regsweep.core.model import Digest
from regsweep.core.sorted_sizes import SortedSizes
from regsweep.state.spill import memory_budget

digests = st.integers(0, 40).map(lambda i: Digest(f"sha256:{i:064x}"))
size_maps = st.dictionaries(digests, st.integers(0, 2**50), max_size=20)


@given(size_maps, st.lists(digests, max_size=10))
def test_it_answers_as_the_dict(sizes: dict[Digest, int], asked: list[Digest]) -> None:
    ordered = SortedSizes.of(sizes)
    assert len(ordered) == len(sizes)
    assert list(ordered) == sorted(sizes) == list(ordered.digests)
    assert list(ordered.items()) == sorted(sizes.items())
    assert list(ordered.values()) == [sizes[d] for d in sorted(sizes)]
    assert ordered == sizes
    for digest in asked:
        assert (digest in ordered) is (digest in sizes)
        assert ordered.get(digest) == sizes.get(digest)
        assert ordered.get(digest, -1) == sizes.get(digest, -1)
        place = ordered.place(digest)
        if digest in sizes:
            assert place is not None and ordered.digests[place] == digest
            assert ordered[digest] == sizes[digest]
        else:
            assert place is None


def test_a_key_that_is_not_a_digest_has_no_place() -> None:
    ordered = SortedSizes.of({Digest("sha256:" + "a" * 64): 1})
    assert ordered.place(3) is None
    assert 3 not in ordered


@given(size_maps)
def test_a_budgets_sizes_in_digest_order_are_the_same(sizes: dict[Digest, int]) -> None:
    """A budget's map of sizes, on disk or in memory, put in digest order."""
    on_disk = memory_budget(0, batch=1).digest_sizes("blob sizes")
    on_disk.update(sizes)
    assert on_disk.spilled or not sizes
    assert SortedSizes.of(sizes) == sizes
    assert list(SortedSizes.of(on_disk).items()) == sorted(sizes.items())
    in_memory = memory_budget(None).digest_sizes("blob sizes")
    in_memory.update(sizes)
    assert list(SortedSizes.of(in_memory).items()) == sorted(sizes.items())
    ordered = SortedSizes.of(sizes)
    assert SortedSizes.of(ordered) is ordered
