"""Keep rules, policy sets and the planner's explanations, on small hand-built inventories."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.cli.settings import load_settings
from regsweep.core import mediatypes
from regsweep.core.errors import UsageError
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest, Repository, Tag
from regsweep.plan.planner import build_plan, plan_repository
from regsweep.policy.rules import (
    MostRecentlyPushed,
    NewestVersions,
    Policy,
    PolicySet,
    PushedWithin,
    TagPattern,
    decide_tags,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def digest(name: str) -> Digest:
    return Digest("sha256:" + hashlib.sha256(name.encode()).hexdigest())


def tag(repository: str, name: str, days: float | None, target: str | None = None) -> Tag:
    when = None if days is None else NOW - days * DAY
    return Tag(repository, name, digest(target or f"{repository}:{name}"), when)


def repository(name: str, *tags: Tag, untagged: dict[Digest, float] | None = None) -> Repository:
    revisions: dict[Digest, datetime | None] = {t.digest: t.pushed_at for t in tags}
    for d, days in (untagged or {}).items():
        revisions[d] = NOW - days * DAY
    return Repository(name, {t.name: t for t in tags}, revisions)


def image(d: Digest) -> Manifest:
    return Manifest(d, mediatypes.OCI_MANIFEST, 100)


def inventory(*repositories: Repository, extra: tuple[Manifest, ...] = ()) -> Inventory:
    manifests = {d: image(d) for r in repositories for d in r.revisions}
    manifests.update({m.digest: m for m in extra})
    return Inventory({r.name: r for r in repositories}, manifests, dict.fromkeys(manifests, 10))


def kept(repo: Repository, policy: Policy) -> set[str]:
    return {d.tag.name for d in decide_tags(repo, policy, NOW) if d.keep}


def only(*rules: str, **fields: object) -> Policy:
    """A policy with no rule but the ones given (the Policy defaults keep some)."""
    base: dict[str, object] = {"pushed_within": None, "exclude_tags": None}
    base.update(fields)
    return Policy(**base)  # type: ignore[arg-type]


def test_versions_are_compared_as_numbers_and_pre_releases_do_not_count() -> None:
    repo = repository(
        "lib",
        *(tag("lib", n, 100) for n in ("1.9.0", "1.10.0", "v1.10.0", "2.0.0-rc1", "0.9.9", "1.9")),
    )
    assert kept(repo, only(keep_versions=1)) == {"1.10.0", "v1.10.0"}
    assert kept(repo, only(keep_versions=2)) == {"1.10.0", "v1.10.0", "1.9.0"}


def test_last_n_ranks_by_push_time_not_by_name() -> None:
    repo = repository("app", tag("app", "b-old", 9), tag("app", "a-new", 1), tag("app", "c", 5))
    assert kept(repo, only(keep_last=2)) == {"a-new", "c"}


def test_unknown_push_time_is_kept_by_every_policy() -> None:
    repo = repository(
        "app", tag("app", "mystery", None), tag("app", "old", 90), tag("app", "older", 99)
    )
    assert kept(repo, only(pushed_within=DAY)) == {"mystery"}
    assert kept(repo, only(keep_last=1)) == {"mystery", "old"}  # ranked among known times
    assert kept(repo, only(exclude_tags=re.compile("^x"))) == {"mystery"}


def test_every_rule_that_keeps_a_tag_is_named() -> None:
    repo = repository("app", tag("app", "v1", 1))
    policy = only(exclude_tags=re.compile("^v"), keep_last=1, pushed_within=2 * DAY)
    (decision,) = decide_tags(repo, policy, NOW)
    assert [type(rule) for rule, _ in decision.matches] == [
        TagPattern,
        MostRecentlyPushed,
        PushedWithin,
    ]
    assert decision.reason == "matches /^v/; #1 most recently pushed (keep last 1); " + (
        "pushed 1d ago, within 2d"
    )


def test_a_deleted_tag_says_which_rules_were_asked() -> None:
    repo = repository("app", tag("app", "x", 10))
    (decision,) = decide_tags(repo, only(keep_versions=3, name="libs"), NOW)
    assert not decision.keep
    assert decision.reason == (
        "pushed 10d ago; kept by no rule of policy libs (the 3 newest release versions)"
    )
    assert NewestVersions(3).describe() in decision.reason


def test_first_matching_policy_decides_and_unmatched_repositories_are_left_alone() -> None:
    inv = inventory(
        repository("team/a", tag("team/a", "old", 40)),
        repository("team/b", tag("team/b", "old", 40)),
        repository("other", tag("other", "old", 400)),
    )
    policies = PolicySet(
        (
            only(name="keep-a", repositories=re.compile("team/a"), pushed_within=100 * DAY),
            only(name="team", repositories=re.compile("team/.*"), pushed_within=30 * DAY),
        )
    )
    plan = build_plan(inv, policies, NOW)
    assert {(a.repository, a.tag) for a in plan.untags} == {("team/b", "old")}
    assert {d.tag.repository: d.policy for d in plan.decisions} == {
        "team/a": "keep-a",
        "team/b": "team",
    }


def test_a_pinned_digest_keeps_its_untagged_manifest_and_its_tags() -> None:
    pinned = digest("pinned")
    repo = repository("app", tag("app", "old", 90, target="pinned"), untagged={pinned: 90})
    loose = digest("loose")
    repo = Repository("app", repo.tags, {**repo.revisions, loose: NOW - 90 * DAY})
    policy = only(pushed_within=DAY, pinned=frozenset({pinned}), name="p")
    planned = plan_repository(repo, inventory(repo).manifests, policy, NOW)
    assert [a.digest for a in planned.deletes] == [loose]
    assert not planned.untags
    assert planned.why_kept(pinned, {}) == "tagged by kept tag old"


def test_orphaned_artifacts_are_kept_only_when_the_policy_says_so() -> None:
    signature = Manifest(digest("sig"), mediatypes.OCI_MANIFEST, 50, subject=digest("gone"))
    repo = Repository("app", {}, {signature.digest: NOW - 90 * DAY})
    manifests = {signature.digest: signature}
    deleting = plan_repository(repo, manifests, only(pushed_within=DAY), NOW)
    assert [a.digest for a in deleting.deletes] == [signature.digest]
    keeping = plan_repository(
        repo, manifests, only(pushed_within=DAY, delete_orphan_artifacts=False, name="ci"), NOW
    )
    assert keeping.deletes == ()
    assert "policy ci keeps orphaned artifacts" in str(
        keeping.why_kept(signature.digest, manifests)
    )


def test_a_kept_platform_is_explained_through_its_index() -> None:
    arm = image(digest("arm"))
    index = Manifest(
        digest("index"),
        mediatypes.OCI_INDEX,
        200,
        children=(Descriptor(mediatypes.OCI_MANIFEST, arm.digest, 100, "linux/arm64"),),
    )
    repo = Repository(
        "app",
        {"1.0": Tag("app", "1.0", index.digest, NOW - 90 * DAY)},
        {index.digest: NOW - 90 * DAY, arm.digest: NOW - 90 * DAY},
    )
    manifests = {arm.digest: arm, index.digest: index}
    planned = plan_repository(repo, manifests, only(exclude_tags=re.compile(r"^1\.")), NOW)
    assert planned.deletes == ()
    assert planned.why_kept(arm.digest, manifests) == (
        f"linux/arm64 of index {index.digest}, which is kept: tagged by kept tag 1.0"
    )


def test_a_policy_file_and_a_flat_policy_setting_cannot_be_mixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("policies:\n  - name: a\n    keep: {last: 3}\n")
    monkeypatch.setenv("MAX_AGE_SECONDS", "3600")
    with pytest.raises(
        UsageError, match=r"remove pushed_within \(PUSHED_WITHIN or MAX_AGE or MAX_AGE_SECONDS\)"
    ):
        load_settings({"policy_file": path}).policies()
    monkeypatch.delenv("MAX_AGE_SECONDS")
    monkeypatch.setenv("REGSWEEP_POLICY", str(path))
    (policy,) = load_settings({}).policies().policies
    assert policy.name == "a"
    assert policy.keep_last == 3
