"""Packed digests answer as the sorted strings they were made from: their order, each
one's place, and nothing for what is not among them."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regsweep.core.model import Digest
from regsweep.core.packed_digests import PackedDigests, SizedDigests, place_in
from regsweep.core.sorted_sizes import ListedSizes, SortedSizes

digests = st.integers(0, 2**256 - 1).map(lambda i: Digest(f"sha256:{i:064x}"))
#: near neighbours too, so that bisection meets digests sharing long prefixes
close = st.integers(0, 40).map(lambda i: Digest(f"sha256:{'f' * 60}{i:04x}"))
any_digest = st.one_of(digests, close)
not_digests = st.sampled_from(
    [3, None, "", "sha256:", "sha256:" + "g" * 64, "sha256:" + "a" * 63, "sha512:" + "a" * 64]
)


def packed_of(digests: list[Digest]) -> PackedDigests:
    """``digests`` packed, in any order."""
    return PackedDigests.of_raw(b"".join(bytes.fromhex(d[7:]) for d in digests))


@given(st.sets(any_digest, max_size=30), st.lists(any_digest, max_size=10))
def test_it_answers_as_the_sorted_strings(held: set[Digest], asked: list[Digest]) -> None:
    ordered = sorted(held)
    packed = packed_of(ordered)
    assert len(packed) == len(ordered)
    assert list(packed) == ordered
    assert [packed[i] for i in range(len(ordered))] == ordered
    assert [packed[-i] for i in range(1, len(ordered) + 1)] == [
        ordered[-i] for i in range(1, len(ordered) + 1)
    ]
    assert packed[1:4] == ordered[1:4] and packed[::-2] == ordered[::-2]
    for digest in [*asked, *ordered]:
        place = packed.place(digest)
        expected = ordered.index(digest) if digest in held else None
        assert place == expected == place_in(tuple(ordered), digest)
        assert place_in(packed, digest) == expected
        assert (digest in packed) is (digest in held)


@given(not_digests)
def test_what_is_not_a_sha256_digest_has_no_place(value: object) -> None:
    packed = packed_of([Digest("sha256:" + "a" * 64)])
    assert packed.place(value) is None and value not in packed
    assert place_in(("sha256:" + "a" * 64,), value) is None


def test_an_index_out_of_range_raises() -> None:
    packed = packed_of([Digest("sha256:" + "a" * 64)])
    with pytest.raises(IndexError):
        packed[1]
    with pytest.raises(IndexError):
        packed[-2]


@given(
    st.dictionaries(any_digest, st.integers(0, 2**50), max_size=20),
    st.lists(any_digest, max_size=8),
    st.randoms(use_true_random=False),
)
def test_listed_sizes_answer_as_the_sizes(
    sizes: dict[Digest, int], asked: list[Digest], random: Random
) -> None:
    """Sizes listed in any order, in two parts merged, one blob listed twice: in digest
    order at the end, packed, they answer as the dict."""
    listed = list(sizes.items())
    random.shuffle(listed)
    if listed:
        listed.append(listed[0])
    parts = ListedSizes(), ListedSizes()
    for index, (digest, size) in enumerate(listed):
        parts[index % 2].add(digest[7:], size)
    parts[0].update(parts[1])
    packed = parts[0].in_order()
    strings = SortedSizes.of(sizes)
    assert isinstance(packed.digests, PackedDigests)
    assert list(packed.items()) == list(strings.items()) == sorted(sizes.items())
    for digest in [*asked, *sizes]:
        assert packed.place(digest) == strings.place(digest)
        assert packed.get(digest) == sizes.get(digest)


@given(st.lists(any_digest, max_size=12))
def test_raw_digests_in_any_order_are_packed_in_order(listed: list[Digest]) -> None:
    raw = b"".join(bytes.fromhex(d[7:]) for d in listed)
    assert list(PackedDigests.of_raw(raw)) == sorted(set(listed))
    with pytest.raises(ValueError, match="whole number"):
        PackedDigests(bytearray(raw + b"x"))


@given(st.lists(st.tuples(any_digest, st.integers(-1, 2**62)), max_size=30))
def test_sized_digests_answer_as_the_list_of_pairs(pairs: list[tuple[Digest, int]]) -> None:
    sized = SizedDigests()
    for digest, size in pairs:
        sized.append(digest, size)
    assert list(sized) == pairs and len(sized) == len(pairs)
    assert [sized[i] for i in range(len(pairs))] == pairs
    assert sized[::-1] == pairs[::-1] and sized[1:3] == pairs[1:3]
    assert sized == pairs and sized == SizedDigests(pairs)
    assert (sized == SizedDigests([*pairs, (Digest("sha256:" + "0" * 64), 1)])) is False


@given(not_digests)
def test_sized_digests_take_only_sha256_digests(value: object) -> None:
    sized = SizedDigests()
    with pytest.raises((ValueError, TypeError)):
        sized.append(value, 1)  # type: ignore[arg-type]
    assert len(sized) == 0


@given(st.sets(any_digest, max_size=30))
def test_sorted_digests_pack_as_they_come(held: set[Digest]) -> None:
    ordered = sorted(held)
    assert list(PackedDigests.of_sorted(iter(ordered))) == ordered
    assert PackedDigests.of_sorted(ordered).place(ordered[-1] if ordered else "x") == (
        len(ordered) - 1 if ordered else None
    )
    with pytest.raises(ValueError, match="not a sha256 digest"):
        PackedDigests.of_sorted([*ordered, Digest("sha512:" + "a" * 128)])
