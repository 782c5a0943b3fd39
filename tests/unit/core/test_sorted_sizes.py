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
    ordered = SortedSizes(sizes)
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
    ordered = SortedSizes({Digest("sha256:" + "a" * 64): 1})
    assert ordered.place(3) is None
    assert 3 not in ordered


def test_sizes_on_disk_are_not_sorted_into_memory() -> None:
    """Past the memory limit the sizes stay on disk: sorting them would bring every digest
    back into memory."""
    on_disk = memory_budget(0, batch=1).digest_sizes("blob sizes")
    on_disk.update({Digest("sha256:" + "a" * 64): 1})
    assert on_disk.spilled
    assert SortedSizes.of(on_disk) is None
    ordered = SortedSizes({Digest("sha256:" + "a" * 64): 1})
    assert SortedSizes.of(ordered) is ordered
    assert SortedSizes.of(dict(ordered)) == ordered
