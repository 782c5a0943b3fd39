"""``--memory-limit`` on the real registry: with every registry-wide set and size spilled to
disk at its first entry, the plan, its bytes, ``du`` and the collector's swept blobs are
those of the same run held in memory, and every kept tag still pulls.

The library runs write through to the file at once (:data:`regsweep.state.spill.BATCH` 1):
with writes buffered by thousands, a registry this small would be answered from the buffer
and never from the file.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep import Policy, PolicySet, TargetSpec, open_target, plan_registry
from regsweep.collect.native import GcReport, collect_native
from regsweep.core.packed_digests import PackedDigests
from regsweep.core.sorted_sizes import SortedSizes
from regsweep.plan.usage import disk_usage
from regsweep.sources.storage.local import LocalStore
from regsweep.state import spill
from tests.conftest import RegistryFactory
from tests.integration.test_native_gc import push_and_delete, tags
from tests.support import storage
from tests.support.cli import clean_env, regsweep_json
from tests.support.cli import regsweep as regsweep_cli
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario
from tests.support.skopeo import assert_pulls

#: Smaller than any entry: every structure spills as it gets its first one.
TINY = 1
POLICY = PolicySet.of(Policy(pushed_within=timedelta(days=14), keep_last=3))


@pytest.fixture(autouse=True)
def write_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "BATCH", 1)


@pytest.fixture
def garbage_registry(registry: RegistryServer, pusher: Pusher) -> RegistryServer:
    """The scenario's expired tags beside API deletes that left blobs unreferenced."""
    build_scenario(pusher, registry.root)
    push_and_delete(pusher)
    registry.stop()
    return registry


def spilled(caplog: pytest.LogCaptureFixture) -> set[str]:
    """The structures the log says were spilled."""
    return {
        r.getMessage().split(": ", 1)[1].split(" spilled", 1)[0]
        for r in caplog.records
        if r.name.startswith("regsweep.core.") and " spilled to disk " in r.getMessage()
    }


def test_plan_bytes_and_usage_are_the_same_spilled(
    garbage_registry: RegistryServer, caplog: pytest.LogCaptureFixture
) -> None:
    target = open_target(TargetSpec(storage=str(garbage_registry.root)))
    in_memory = plan_registry(target, POLICY)
    with caplog.at_level(logging.INFO, logger="regsweep.core"):
        on_disk = plan_registry(target, POLICY, memory_limit=TINY)
        usage = disk_usage(on_disk.inventory, on_disk.policies, on_disk.plan)
    # the manifests went to disk as they were read, and the sizes stayed packed (40 bytes
    # a blob); the marks over them, and the freed blobs, are a byte a blob, not sets
    assert spilled(caplog) == {"manifests"}
    sizes = on_disk.inventory.blob_sizes
    assert isinstance(sizes, SortedSizes) and isinstance(sizes.digests, PackedDigests)

    plan = in_memory.plan
    assert plan.summary.bytes_reclaimable > 0 and plan.summary.bytes_already_unreferenced > 0
    assert on_disk.plan.to_json() == plan.to_json()
    assert set(on_disk.plan.reclaimable_blobs) == set(plan.reclaimable_blobs)
    assert dict(on_disk.inventory.blob_sizes.items()) == dict(in_memory.inventory.blob_sizes)
    assert usage == disk_usage(in_memory.inventory, in_memory.policies, plan)


def collect(root: Path, memory_limit: int | None) -> GcReport:
    return collect_native(
        LocalStore(root), offline=True, now=datetime.now(UTC), memory_limit=memory_limit
    )


def test_the_collector_sweeps_the_same_blobs_spilled(
    garbage_registry: RegistryServer,
    registry_factory: RegistryFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    in_memory, on_disk = registry_factory(start=False), registry_factory(start=False)
    for copy in (in_memory, on_disk):
        shutil.copytree(garbage_registry.root, copy.root, symlinks=True, dirs_exist_ok=True)
    before = storage.blob_digests(garbage_registry.root)

    expected = collect(in_memory.root, None)
    with caplog.at_level(logging.INFO, logger="regsweep.core"):
        got = collect(on_disk.root, TINY)
    assert {"mark set", "declared sizes", "manifests read", "blobs present"} <= spilled(caplog)

    assert expected.swept, "the registry must hold garbage"
    assert sorted(got.swept) == sorted(expected.swept)
    assert (got.deleted.count, got.deleted.bytes) == (
        expected.deleted.count,
        expected.deleted.bytes,
    )
    assert (got.marked.count, got.marked.bytes) == (expected.marked.count, expected.marked.bytes)
    assert storage.blob_digests(on_disk.root) == before - {d for d, _ in got.swept}
    with on_disk:
        for repo, tag in tags(on_disk.root):
            assert_pulls(on_disk.host, repo, tag, tmp_path)


def test_the_commands_answer_the_same_under_a_tiny_limit_and_say_what_spilled(
    garbage_registry: RegistryServer, tmp_path: Path
) -> None:
    env = clean_env(tmp_path)
    where = ("--registry-dir", str(garbage_registry.root), "--max-age", "14d", "--keep-last", "3")
    for command in (("plan",), ("du",), ("gc", "--dry-run")):
        args = (*command, *where[:2]) if command[0] == "gc" else (*command, *where)
        unlimited = regsweep_json(*args, "--memory-limit", "1G", env=env)
        limited = regsweep_json(*args, "--memory-limit", "1", env=env)
        for document in (unlimited, limited):
            document.pop("phases", None)
            document.pop("seconds", None)
        assert limited == unlimited, command
    logged = regsweep_cli("-v", "gc", "--dry-run", *where[:2], "--memory-limit", "1", env=env)
    assert logged.returncode == 0, logged.stderr
    assert "memory limit: mark set spilled to disk with 1 entries" in logged.stderr
