"""Images in use: what a reference keeps, on hand-built inventories, through the planner."""

from __future__ import annotations

from regsweep.core.references import parse_reference
from regsweep.plan.planner import build_plan, plan_repository
from regsweep.policy.in_use import InUseReference, resolve_in_use
from regsweep.policy.rules import Policy, PolicySet
from tests.unit.plan.test_planner_scenarios import (
    AMD64,
    ARM64,
    NOW,
    OLD,
    image,
    index,
    inventory,
    repository,
)

HOST = "reg.local"
BUILD = image("build", "base", "build app")
OTHER = image("other", "base", "other app")
RELEASE = index("release", AMD64, ARM64)
MANIFESTS = [BUILD, OTHER, RELEASE, AMD64, ARM64]
REPO = repository(
    "app",
    MANIFESTS,
    {
        "build-1": (BUILD, OLD),
        "build-1-copy": (BUILD, OLD),
        "feature-x": (OTHER, OLD),
        "pr-7": (RELEASE, OLD),
    },
)
INVENTORY = inventory(REPO, manifests=MANIFESTS)


def used(*texts: str) -> list[InUseReference]:
    return [InUseReference(parse_reference(t), f"refs:{n}") for n, t in enumerate(texts, 1)]


def planned_deletions(*texts: str) -> tuple[set[str], set[str]]:
    """(tags untagged, manifests deleted) by the default policy with ``texts`` in use."""
    policies = PolicySet.of(Policy()).protecting(resolve_in_use(used(*texts), INVENTORY))
    plan = build_plan(INVENTORY, policies, NOW)
    return {a.tag or "" for a in plan.untags}, {a.digest for a in plan.manifest_deletes}


def test_without_references_every_old_tag_and_its_image_goes() -> None:
    tags, manifests = planned_deletions()
    assert tags == {"build-1", "build-1-copy", "feature-x", "pr-7"}
    assert manifests == {d.digest for d in MANIFESTS}


def test_a_tag_in_use_keeps_that_tag_and_its_image_only() -> None:
    tags, manifests = planned_deletions(f"{HOST}/app:build-1")
    assert tags == {"build-1-copy", "feature-x", "pr-7"}
    assert BUILD.digest not in manifests and OTHER.digest in manifests


def test_a_digest_in_use_keeps_every_tag_on_it() -> None:
    tags, manifests = planned_deletions(f"{HOST}/app@{BUILD.digest}")
    assert tags == {"feature-x", "pr-7"}
    assert BUILD.digest not in manifests


def test_a_platform_in_use_keeps_its_index_the_index_tag_and_the_other_platforms() -> None:
    tags, manifests = planned_deletions(f"{HOST}/app@{AMD64.digest}")
    assert "pr-7" not in tags
    assert not {RELEASE.digest, AMD64.digest, ARM64.digest} & manifests


def test_a_reference_to_another_repository_keeps_nothing_here() -> None:
    tags, _ = planned_deletions(f"{HOST}/elsewhere:build-1", f"{HOST}/elsewhere@{BUILD.digest}")
    assert "build-1" in tags


def test_a_reference_whose_tag_or_digest_is_gone_is_reported_missing() -> None:
    in_use = resolve_in_use(used(f"{HOST}/app:gone", f"{HOST}/app:build-1"), INVENTORY)
    assert [use.reference.text for use in in_use.missing] == [f"{HOST}/app:gone"]
    assert in_use.references == 2


def test_the_reasons_name_the_reference_and_where_it_was_read() -> None:
    in_use = resolve_in_use(used(f"{HOST}/app:feature-x", f"{HOST}/app@{AMD64.digest}"), INVENTORY)
    policy = Policy(in_use=in_use)
    planned = plan_repository(REPO, INVENTORY.manifests, policy, NOW)
    decision = next(d for d in planned.decisions if d.tag.name == "feature-x")
    assert decision.keep and f"in use as {HOST}/app:feature-x (refs:1)" in decision.reason
    why_index = planned.why_kept(RELEASE.digest, INVENTORY.manifests)
    assert why_index is not None
    assert AMD64.digest in why_index and f"{HOST}/app@{AMD64.digest} (refs:2)" in why_index
    assert "images in use (2 references)" in policy.describe()
