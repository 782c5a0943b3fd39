"""The reasons name a time as what it is: a push on storage, a build over the API."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from regsweep.core import mediatypes
from regsweep.core.model import AgedBy, Digest, Inventory, Manifest, Repository, Tag
from regsweep.core.pulls import TagActivity
from regsweep.plan.planner import build_plan, plan_repository
from regsweep.policy.rules import Policy

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def digest(name: str) -> Digest:
    return Digest("sha256:" + hashlib.sha256(name.encode()).hexdigest())


def registry() -> Inventory:
    """One repository: a tag of 40 days, one of 1 day, one without a time, an untagged
    manifest of 90 days and one of a minute."""
    tags = {
        name: Tag("app", name, digest(name), None if days is None else NOW - days * DAY)
        for name, days in (("old", 40), ("new", 1), ("repro", None))
    }
    revisions: dict[Digest, datetime | None] = {t.digest: t.pushed_at for t in tags.values()}
    revisions[digest("stale")] = NOW - 90 * DAY
    revisions[digest("fresh")] = NOW - timedelta(minutes=1)
    manifests = {d: Manifest(d, mediatypes.OCI_MANIFEST, 100) for d in revisions}
    return Inventory(
        {"app": Repository("app", tags, revisions)}, manifests, dict.fromkeys(manifests, 10)
    )


POLICY = Policy(pushed_within=30 * DAY, exclude_tags=None, keep_last=1)


def reasons(inventory: Inventory) -> dict[str, str]:
    plan = build_plan(inventory, POLICY, NOW)
    found = {d.tag.name: d.reason for d in plan.decisions}
    found.update({a.digest: a.reason for a in plan.manifest_deletes})
    return found


@pytest.mark.parametrize(("aged", "verb", "unknown"), [
    (AgedBy.PUSH, "pushed", "push time unknown"),
    (AgedBy.BUILD, "built", "build time unknown"),
])  # fmt: skip
def test_every_reason_names_the_time_it_was_given(aged: AgedBy, verb: str, unknown: str) -> None:
    found = reasons(replace(registry(), aged_by=aged))

    assert found["old"] == f"{verb} 40d ago; kept by no rule of policy default (the 1 most " + (
        "recently pushed, pushed within 30d)"  # the rules' names: the settings' own words
    )
    assert found["new"] == f"#1 most recently {verb} (keep last 1); {verb} 1d ago, within 30d"
    assert found["repro"] == unknown
    assert found[digest("stale")] == (
        f"untagged, referenced by no kept tag, index or referrer; {verb} 90d ago (grace 1h)"
    )
    inventory = registry()
    planned = plan_repository(
        inventory.repositories["app"], inventory.manifests, POLICY, NOW, aged=aged
    )
    assert planned.roots[digest("fresh")] == f"{verb} 1m ago, within the untagged grace 1h"


def test_an_inventory_read_from_storage_is_aged_by_push() -> None:
    assert registry().aged_by is AgedBy.PUSH


def test_over_the_api_a_push_the_pull_store_recorded_is_called_a_push() -> None:
    """A tag aged by the last push the pull store recorded (API mode): its figure is a
    push; the build times beside it stay build times."""
    inventory = replace(registry(), aged_by=AgedBy.BUILD)
    app = inventory.repositories["app"]
    old = replace(app.tags["old"], activity=TagActivity(None, None, None, aged_by_push=True))
    inventory = replace(
        inventory, repositories={"app": replace(app, tags={**app.tags, "old": old})}
    )

    found = reasons(inventory)

    assert found["old"].startswith("pushed 40d ago, no pull recorded; kept by no rule")
    assert found["new"] == "#1 most recently built (keep last 1); built 1d ago, within 30d"
