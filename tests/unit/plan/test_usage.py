"""Bytes per repository on a hand-built registry, every figure added up by hand.

The plan is built by hand too (what it frees is given, not planned), so these figures
depend on nothing but :func:`disk_usage` itself.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from regsweep.core import mediatypes
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest, Repository, Tag
from regsweep.plan.planner import Plan, Summary
from regsweep.plan.usage import RepositoryUsage, Usage, disk_usage
from regsweep.policy.rules import Policy, PolicySet


def digest(char: str) -> Digest:
    return Digest("sha256:" + char * 64)


APP_V1, APP_V2, LIB_V1 = digest("1"), digest("2"), digest("3")
APP_V1_CONFIG, APP_V2_CONFIG, LIB_CONFIG = digest("4"), digest("5"), digest("6")
SHARED_BASE, APP_LAYER, LOST_LAYER, UNUSED = digest("7"), digest("8"), digest("9"), digest("a")

SIZES = {
    APP_V1: 100,
    APP_V2: 200,
    LIB_V1: 300,
    APP_V1_CONFIG: 10,
    APP_V2_CONFIG: 20,
    LIB_CONFIG: 30,
    SHARED_BASE: 1000,
    APP_LAYER: 500,
    UNUSED: 7,
}  # LOST_LAYER is referenced but no longer in the content store
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def image(manifest: Digest, config: Digest, *layers: Digest) -> Manifest:
    return Manifest(
        manifest,
        mediatypes.OCI_MANIFEST,
        SIZES[manifest],
        config=Descriptor(mediatypes.OCI_CONFIG, config, SIZES[config]),
        layers=tuple(Descriptor("application/vnd.oci.image.layer.v1.tar", d, 1) for d in layers),
    )


INVENTORY = Inventory(
    repositories={
        "app": Repository(
            "app", {"v1": Tag("app", "v1", APP_V1, WHEN)}, {APP_V1: WHEN, APP_V2: WHEN}
        ),
        "lib": Repository("lib", {}, {LIB_V1: WHEN}),
        "b-empty": Repository("b-empty"),
        "a-empty": Repository("a-empty"),
    },
    manifests={
        APP_V1: image(APP_V1, APP_V1_CONFIG, SHARED_BASE, APP_LAYER),
        APP_V2: image(APP_V2, APP_V2_CONFIG, APP_LAYER, LOST_LAYER),
        LIB_V1: image(LIB_V1, LIB_CONFIG, SHARED_BASE),
    },
    blob_sizes=SIZES,
)
#: Only ``app`` is under a policy; ``lib`` and the empty ones are left alone.
POLICIES = PolicySet((Policy(name="apps", repositories=re.compile("app")),))


def plan_freeing(blobs: set[Digest], *, bytes_reclaimable: int, unreferenced: int) -> Plan:
    summary = Summary(
        repositories=4,
        tags=1,
        tags_to_delete=0,
        manifests=3,
        manifests_to_delete=0,
        bytes_reclaimable=bytes_reclaimable,
        blobs_reclaimable=len(blobs),
        bytes_already_unreferenced=unreferenced,
    )
    return Plan(actions=(), summary=summary, reclaimable_blobs=frozenset(blobs))


def test_each_repository_counts_what_its_manifests_mark_and_splits_unique_from_shared() -> None:
    """app: 100 + 200 + 10 + 20 + 1000 + 500 = 1830, of which the base layer (1000) is
    shared with lib; lib: 300 + 30 + 1000 = 1330. A layer gone from storage counts nothing.
    Largest first; equal totals by name."""
    usage = disk_usage(
        INVENTORY, POLICIES, plan_freeing(set(), bytes_reclaimable=0, unreferenced=7)
    )

    assert usage == Usage(
        repositories=(
            RepositoryUsage("app", "apps", 1, 2, 1830, 830, 1000, 0),
            RepositoryUsage("lib", None, 0, 1, 1330, 330, 1000, 0),
            RepositoryUsage("a-empty", None, 0, 0, 0, 0, 0, 0),
            RepositoryUsage("b-empty", None, 0, 0, 0, 0, 0, 0),
        ),
        bytes_stored=2167,
        bytes_reclaimable=0,
        bytes_unreferenced=7,
    )


def test_a_freed_blob_counts_as_reclaimable_in_every_repository_that_uses_it() -> None:
    """The plan frees app's v2 (200 + 20; its layer stays, v1 uses it) and the shared base
    layer: app may reclaim 1220, lib 1000, the registry's own figure is the plan's."""
    plan = plan_freeing(
        {APP_V2, APP_V2_CONFIG, SHARED_BASE}, bytes_reclaimable=1220, unreferenced=7
    )

    usage = disk_usage(INVENTORY, POLICIES, plan)

    reclaimable = {row.name: row.bytes_reclaimable for row in usage.repositories}
    assert reclaimable == {"app": 1220, "lib": 1000, "a-empty": 0, "b-empty": 0}
    assert (usage.bytes_reclaimable, usage.bytes_unreferenced) == (1220, 7)


def test_usage_as_json() -> None:
    plan = plan_freeing({APP_V2}, bytes_reclaimable=200, unreferenced=7)
    one_repository = Inventory(
        {"lib": INVENTORY.repositories["lib"]}, INVENTORY.manifests, INVENTORY.blob_sizes
    )

    assert disk_usage(one_repository, POLICIES, plan).to_json() == {
        "repositories": [
            {
                "repository": "lib",
                "policy": None,
                "tags": 0,
                "manifests": 1,
                "bytes_total": 1330,
                "bytes_unique": 1330,
                "bytes_shared": 0,
                "bytes_reclaimable": 0,
            }
        ],
        "registry": {"bytes_stored": 2167, "bytes_reclaimable": 200, "bytes_unreferenced": 7},
    }
