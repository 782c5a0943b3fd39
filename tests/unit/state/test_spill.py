"""The registry-wide digest sets and sizes, and the manifests, give the same answers in
memory and spilled to SQLite, whatever the operations and wherever the spill happens among
them."""

from __future__ import annotations

import glob
import logging
import tempfile
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regsweep.core import manifest_map
from regsweep.core.bounded import SET_ENTRY_BYTES, MemoryBudget
from regsweep.core.manifest_map import ManifestMap
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest
from regsweep.plan.planner import build_plan
from regsweep.plan.usage import disk_usage
from regsweep.policy.rules import PolicySet
from regsweep.state.spill import BATCH, SqliteDigestSet, _digest, _key, memory_budget
from tests.unit.strategies import NOW, inventories, policy_sets

#: A few digests, so that operations meet the same ones again; one not sha256, one odd.
DIGESTS = [Digest(f"sha256:{i:064x}") for i in range(12)] + [
    Digest("sha512:" + "ab" * 64),
    Digest("x" * 31),  # 32 bytes after the zero byte: padded, not taken for a sha256
]
digests = st.sampled_from(DIGESTS)
set_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), digests),
        st.tuples(st.just("update"), st.lists(digests, max_size=6)),
        st.tuples(st.just("discard"), digests),
        st.tuples(st.just("difference_update"), st.lists(digests, max_size=6)),
        st.tuples(st.just("contains"), digests),
    ),
    max_size=40,
)
size_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), digests, st.integers(0, 2**40)),
        st.tuples(st.just("setdefault"), digests, st.integers(0, 2**40)),
        st.tuples(st.just("del"), digests, st.just(0)),
        st.tuples(st.just("get"), digests, st.just(0)),
    ),
    max_size=40,
)


@pytest.mark.parametrize("digest", DIGESTS)
def test_keys_turn_back_into_the_same_digest(digest: Digest) -> None:
    assert _digest(_key(digest)) == digest


def test_a_sha256_digest_is_stored_as_its_32_bytes() -> None:
    assert _key(DIGESTS[1]) == bytes.fromhex(DIGESTS[1][7:])


#: writes buffered: 1 sends every read to the file, 3 mixes the buffer and the file
batches = st.sampled_from([1, 3, BATCH])


@given(set_ops, st.integers(0, 200), batches)
def test_a_digest_set_answers_as_a_set_spilled_or_not(
    ops: list[tuple[str, object]], limit: int, batch: int
) -> None:
    """``limit`` from 0 (spills at the first add) to enough for every digest (never
    spills): a tenth of an entry per unit, so most runs spill somewhere."""
    budget = memory_budget(limit * 4 * SET_ENTRY_BYTES // 10, batch=batch)
    bounded, plain = budget.digest_set("test"), set[Digest]()
    for op, arg in ops:
        if op == "add":
            bounded.add(arg)  # type: ignore[arg-type]
            plain.add(arg)  # type: ignore[arg-type]
        elif op == "update":
            bounded.update(arg)  # type: ignore[arg-type]
            plain.update(arg)  # type: ignore[arg-type]
        elif op == "discard":
            bounded.discard(arg)  # type: ignore[arg-type]
            plain.discard(arg)  # type: ignore[arg-type]
        elif op == "difference_update":
            bounded -= arg  # type: ignore[arg-type]
            plain -= set(arg)  # type: ignore[call-overload]
        else:
            assert (arg in bounded) == (arg in plain)
    assert len(bounded) == len(plain)
    assert set(bounded) == plain
    assert list(bounded.ordered()) == sorted(plain)
    assert bounded == plain
    assert [d in bounded for d in DIGESTS] == [d in plain for d in DIGESTS]
    bounded.close()


@given(size_ops, st.integers(0, 200), batches)
def test_digest_sizes_answer_as_a_dict_spilled_or_not(
    ops: list[tuple[str, Digest, int]], limit: int, batch: int
) -> None:
    budget = memory_budget(limit * 4 * SET_ENTRY_BYTES // 10, batch=batch)
    bounded, plain = budget.digest_sizes("test"), dict[Digest, int]()
    for op, digest, value in ops:
        if op == "set":
            bounded[digest] = value
            plain[digest] = value
        elif op == "setdefault":
            assert bounded.setdefault(digest, value) == plain.setdefault(digest, value)
        elif op == "del":
            if digest in plain:
                del bounded[digest]
                del plain[digest]
            else:
                with pytest.raises(KeyError):
                    del bounded[digest]
        else:
            assert bounded.get(digest) == plain.get(digest)
            assert (digest in bounded) == (digest in plain)
    assert len(bounded) == len(plain)
    assert dict(bounded.items()) == plain
    assert sum(bounded.values()) == sum(plain.values())
    assert [bounded.get(d) for d in DIGESTS] == [plain.get(d) for d in DIGESTS]
    bounded.close()


def test_the_largest_structure_spills_first_and_the_log_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    budget = memory_budget(40 * SET_ENTRY_BYTES)  # 10 entries in all at a quarter
    small, large = budget.digest_set("small"), budget.digest_set("large")
    small.update(DIGESTS[:2])
    with caplog.at_level(logging.INFO, logger="regsweep.core.bounded"):
        large.update(DIGESTS[2:12])
    assert large.spilled and not small.spilled
    assert "large spilled to disk with 9 entries" in caplog.text
    assert set(large) == set(DIGESTS[2:12])


def test_without_a_limit_nothing_spills() -> None:
    unlimited = MemoryBudget(None)
    held = unlimited.digest_set("all", DIGESTS)
    assert not held.spilled and set(held) == set(DIGESTS)


def test_the_spilled_file_is_removed_when_closed_or_let_go() -> None:
    pattern = f"{tempfile.gettempdir()}/regsweep-removal-*"
    spilled = SqliteDigestSet("removal")
    spilled.add_many(DIGESTS)
    assert len(glob.glob(pattern)) == 1
    spilled.close()
    assert glob.glob(pattern) == []
    dropped = SqliteDigestSet("removal")
    assert len(glob.glob(pattern)) == 1
    del dropped
    assert glob.glob(pattern) == []


@given(inventories(), policy_sets(), st.sampled_from([1, 256]))
def test_plan_and_usage_are_the_same_with_the_manifests_on_disk(
    inventory: Inventory, policies: PolicySet, recent: int
) -> None:
    """The planner and ``du`` over manifests on disk (decoded again through a cache of
    ``recent``), against the same in memory: the plan, its bytes, the freed blobs, the
    usage."""
    in_memory = build_plan(inventory, policies, NOW)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_map, "RECENT", recent)
        manifests = ManifestMap(memory_budget(0, batch=1), expected=len(inventory.manifests))
        for manifest in inventory.manifests.values():
            manifests.add(manifest)
        assert manifests.spilled or not inventory.manifests
        on_disk = replace(inventory, manifests=manifests)
        spilled = build_plan(on_disk, policies, NOW)
        assert spilled.to_json() == in_memory.to_json()
        assert set(spilled.reclaimable_blobs) == set(in_memory.reclaimable_blobs)
        usage = disk_usage(on_disk, policies, spilled)
    assert usage == disk_usage(inventory, policies, in_memory)


def _sizes_on_disk(inventory: Inventory, budget: MemoryBudget) -> Inventory:
    sizes = budget.digest_sizes("blob sizes")
    sizes.update(inventory.blob_sizes)
    assert sizes.spilled or not inventory.blob_sizes
    return replace(inventory, blob_sizes=sizes)


@given(inventories(), policy_sets())
def test_plan_is_the_same_with_the_blob_sizes_on_disk(
    inventory: Inventory, policies: PolicySet
) -> None:
    """An inventory whose content store's sizes are on disk (a library caller's): the
    planner's marks read them back in digest order; same plan, bytes and blobs freed."""
    in_memory = build_plan(inventory, policies, NOW)
    budget = memory_budget(0, batch=1)
    on_disk = build_plan(_sizes_on_disk(inventory, budget), policies, NOW)
    assert on_disk.to_json() == in_memory.to_json()
    assert set(on_disk.reclaimable_blobs) == set(in_memory.reclaimable_blobs)


@given(inventories(), policy_sets())
def test_usage_is_the_same_with_the_blob_sizes_on_disk(
    inventory: Inventory, policies: PolicySet
) -> None:
    """The same for ``du``'s count of each blob's users: same usage."""
    plan = build_plan(inventory, policies, NOW)
    budget = memory_budget(0, batch=1)
    on_disk = _sizes_on_disk(inventory, budget)
    assert disk_usage(on_disk, policies, plan) == disk_usage(inventory, policies, plan)


manifest_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 11)),
        st.tuples(st.just("get"), st.integers(0, 13)),
    ),
    max_size=30,
)


@given(manifest_ops, st.integers(0, 30), batches, st.sampled_from([1, 2, 4096]))
def test_manifests_answer_as_a_dict_spilled_or_not(
    ops: list[tuple[str, int]], spill_at: int, batch: int, recent: int
) -> None:
    """Manifests added, looked up and iterated, spilled anywhere among the operations and
    read back through a cache of ``recent`` decoded ones: the answers of a dict."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_map, "RECENT", recent)
        made = [_manifest(i) for i in range(12)]
        held = ManifestMap(memory_budget(None, batch=batch))
        plain: dict[Digest, Manifest] = {}
        for step, (op, index) in enumerate(ops):
            if step == spill_at:
                held.spill()
            digest = DIGESTS[index]
            if op == "add":
                held.add(made[index])
                plain[digest] = made[index]
            else:
                assert (digest in held) is (digest in plain)
                assert held.get(digest) == plain.get(digest)
        assert len(held) == len(plain)
        assert sorted(held) == sorted(plain)
        assert {d: held[d] for d in held} == plain


def _manifest(index: int) -> Manifest:
    layer = Descriptor("application/x.layer", DIGESTS[index % 3], index, "linux/amd64", {"i": "1"})
    return Manifest(DIGESTS[index], "application/x.manifest", 100 + index, layers=(layer,))


def test_manifests_spill_by_their_references_and_the_file_goes_with_them() -> None:
    """A manifest is estimated by its references; past a quarter of the limit the map goes
    to disk, and its file is removed when it is let go."""
    one = manifest_map.estimated_bytes(_manifest(0))
    assert one == manifest_map.MANIFEST_BYTES + manifest_map.REFERENCE_BYTES
    pattern = f"{tempfile.gettempdir()}/regsweep-manifests-*"
    before = set(glob.glob(pattern))  # another run's may be there: only this one's counts
    held = ManifestMap(memory_budget(4 * 3 * one))
    for index in range(3):
        held.add(_manifest(index))
    assert not held.spilled
    held.add(_manifest(3))
    assert held.spilled and len(held) == 4
    assert len(set(glob.glob(pattern)) - before) == 1
    del held
    assert set(glob.glob(pattern)) - before == set()


def test_manifests_that_would_pass_the_allowance_go_to_disk_from_the_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Expected to pass the allowance by themselves, the manifests are never held whole
    first (the peak of the run would be the moment of their spill); expected to fit, they
    stay in memory until they do not."""
    typical = manifest_map.MANIFEST_BYTES + 10 * manifest_map.REFERENCE_BYTES
    budget = memory_budget(4 * 100 * typical)  # an allowance of 100 typical manifests
    with caplog.at_level(logging.INFO, logger="regsweep.core.manifest_map"):
        fits = ManifestMap(budget, expected=100)
        passes = ManifestMap(budget, expected=101)
    assert not fits.spilled and passes.spilled and len(passes) == 0
    assert [r.getMessage() for r in caplog.records] == [
        "memory limit: manifests spilled to disk before the first of 101 is read "
        f"(about {101 * typical / 2**20:.1f} MiB in memory)"
    ]
    passes.add(_manifest(0))
    assert passes[DIGESTS[0]] == _manifest(0)
    assert not ManifestMap(memory_budget(None), expected=10**9).spilled
