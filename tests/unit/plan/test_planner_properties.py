"""Properties of the planner over random inventories and policies.

Every expectation here is computed by a deliberately naive oracle (fixpoints, brute-force
marking), never by calling the planner's own helpers, so a bug shared by the two would have
to be written twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from regsweep.core.model import Digest, Inventory, Manifest, Repository
from regsweep.plan.planner import Plan, build_plan, plan_repository
from regsweep.policy.rules import Policy, PolicySet
from tests.unit.strategies import NOW, digest_of, inventories, policy_sets


def in_scope(name: str, policy: Policy) -> bool:
    if policy.repositories is not None and policy.repositories.fullmatch(name) is None:
        return False
    return policy.exclude_repositories is None or not policy.exclude_repositories.search(name)


def policy_for(name: str, policies: PolicySet) -> Policy | None:
    """The first policy whose scope holds the repository; None leaves it alone."""
    return next((p for p in policies.policies if in_scope(name, p)), None)


_RELEASE = re.compile(r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
#: cosign (``.sig``, ``.att``, ``.sbom``) and the referrers tag schema: named by a subject
_ARTIFACT_TAG = re.compile(r"sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?")


def subject_of_tag(name: str) -> Digest | None:
    match = _ARTIFACT_TAG.fullmatch(name)
    return Digest(f"sha256:{match.group(1)}") if match else None


def kept_by_rules(repository: Repository, policy: Policy) -> set[str]:
    """The keep rules as the user reads them (any one keeps), over the non-artifact tags."""
    tags = [t for t in repository.tags.values() if subject_of_tag(t.name) is None]
    timed = sorted(
        (t for t in tags if t.pushed_at is not None),
        key=lambda t: (t.pushed_at, t.name),
        reverse=True,
    )
    newest = {t.name for t in timed[: policy.keep_last]}
    versions = {
        t.name: tuple(int(g) for g in m.groups()) for t in tags if (m := _RELEASE.fullmatch(t.name))
    }
    top_versions = sorted(set(versions.values()), reverse=True)[: policy.keep_versions]
    return {
        tag.name
        for tag in tags
        if (policy.exclude_tags is not None and policy.exclude_tags.search(tag.name))
        or tag.digest in policy.pinned
        or tag.name in newest
        or versions.get(tag.name) in top_versions
        or tag.pushed_at is None
        or (policy.pushed_within is not None and NOW - tag.pushed_at <= policy.pushed_within)
    }


def artifact_ties(
    repository: Repository, manifests: Mapping[Digest, Manifest], *, buildx: bool
) -> dict[Digest, set[Digest]]:
    """artifact -> the subjects it describes: OCI subject, artifact tag and, with ``buildx``,
    an attestation entry of an index (which lives and dies with that index, but still goes
    before the platform it describes)."""
    ties: dict[Digest, set[Digest]] = {}
    for digest in repository.revisions:
        manifest = manifests.get(digest)
        if manifest is None:
            continue
        if manifest.subject is not None:
            ties.setdefault(digest, set()).add(manifest.subject)
        for child in manifest.children if buildx else ():
            if child.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
                described = Digest(child.annotations["vnd.docker.reference.digest"])
                ties.setdefault(child.digest, set()).add(described)
    for tag in repository.tags.values():
        subject = subject_of_tag(tag.name)
        if subject is not None:
            ties.setdefault(tag.digest, set()).add(subject)
    return ties


@dataclass(frozen=True)
class Expected:
    tags: set[str]  # every tag the policy keeps
    needed: set[Digest]  # every manifest those tags (and the other roots) need


def expected(
    repository: Repository, manifests: Mapping[Digest, Manifest], policy: Policy
) -> Expected:
    """What the policy keeps in one repository, by fixpoints over the plain definitions.

    Roots: the digests of tags the rules keep; pinned revisions; and, unless the revision is
    an artifact whose subject is here (an artifact lives and dies with its subject), young
    revisions, revisions of unknown age (not an orphan's: its subject was looked up and is
    gone) and, when the policy keeps them, orphaned artifacts. From the roots: index
    children and the artifacts of what is needed. Unreadable revisions are never deleted;
    when one is needed by the roots, its references are unknown and every revision is.
    Artifact tags are kept when their subject is needed (or, for an orphan, their manifest).
    """
    revisions = set(repository.revisions)
    ties = artifact_ties(repository, manifests, buildx=False)
    orphans = {a for a, subjects in ties.items() if not subjects & revisions}
    attached = set(ties) - orphans
    by_rules = kept_by_rules(repository, policy)
    roots = {repository.tags[name].digest for name in by_rules}
    for digest, linked in repository.revisions.items():
        young = linked is not None and NOW - linked <= policy.untagged_grace
        if digest in policy.pinned:
            roots.add(digest)
        elif digest in orphans:
            if not policy.delete_orphan_artifacts or young:
                roots.add(digest)
        elif digest not in attached and (linked is None or young):
            roots.add(digest)

    def closure(start: set[Digest]) -> set[Digest]:
        need = set(start)
        while True:
            grown = set(need)
            for digest in need:
                manifest = manifests.get(digest)
                if manifest is not None:
                    grown |= {c.digest for c in manifest.children}
            grown |= {a for a, subjects in ties.items() if subjects & need}
            if grown == need:
                return need
            need = grown

    unreadable = {d for d in revisions if d not in manifests}
    need = closure(roots)
    need = revisions | need if need & unreadable else closure(roots | unreadable)
    artifact_tags = set()
    for tag in repository.tags.values():
        subject = subject_of_tag(tag.name)
        if subject is not None and (
            subject in need if subject in revisions else tag.digest in need
        ):
            artifact_tags.add(tag.name)
    return Expected(by_rules | artifact_tags, need)


def gc_marked(inventory: Inventory) -> set[Digest]:
    """What ``registry garbage-collect`` marks: each revision and, one level, its references."""
    marked: set[Digest] = set()
    for repository in inventory.repositories.values():
        for digest in repository.revisions:
            marked.add(digest)
            manifest = inventory.manifests.get(digest)
            if manifest is None:
                continue
            marked |= {c.digest for c in manifest.children}
            marked |= {layer.digest for layer in manifest.layers}
            if manifest.config is not None:
                marked.add(manifest.config.digest)
    return marked


def apply(inventory: Inventory, plan: Plan, *, collect: bool) -> Inventory:
    """What the registry holds after the plan (and, with ``collect``, after GC).

    Deleting a manifest also drops every tag still pointing at it, as distribution does.
    """
    untagged = {(a.repository, a.tag) for a in plan.untags}
    deleted = {(a.repository, a.digest) for a in plan.manifest_deletes}
    repositories = {}
    for name, repository in inventory.repositories.items():
        revisions = {d: t for d, t in repository.revisions.items() if (name, d) not in deleted}
        tags = {
            t: tag
            for t, tag in repository.tags.items()
            if (name, t) not in untagged and (name, tag.digest) not in deleted
        }
        repositories[name] = replace(repository, tags=tags, revisions=revisions)
    gone = plan.reclaimable_blobs if collect else frozenset()
    return Inventory(
        repositories=repositories,
        manifests={d: m for d, m in inventory.manifests.items() if d not in gone},
        blob_sizes={d: s for d, s in inventory.blob_sizes.items() if d not in gone},
    )


@given(inventories(), policy_sets())
def test_no_deleted_manifest_is_needed_by_a_kept_tag_or_a_young_manifest(
    inventory: Inventory, policies: PolicySet
) -> None:
    plan = build_plan(inventory, policies, NOW)
    deletes = [(a.repository, a.digest) for a in plan.manifest_deletes]
    assert len(deletes) == len(set(deletes))
    for name, repository in inventory.repositories.items():
        doomed = {d for repo, d in deletes if repo == name}
        policy = policy_for(name, policies)
        if policy is None:
            assert not doomed
            continue
        need = expected(repository, inventory.manifests, policy).needed
        assert doomed.isdisjoint(need)
        assert all(d in inventory.manifests for d in doomed)  # never delete what was not read
        # and nothing else survives: every unneeded revision goes
        assert doomed == set(repository.revisions) - need


@given(inventories(), policy_sets())
def test_untags_are_exactly_the_expired_tags_in_scope(
    inventory: Inventory, policies: PolicySet
) -> None:
    plan = build_plan(inventory, policies, NOW)
    expired = set()
    for name, repository in inventory.repositories.items():
        policy = policy_for(name, policies)
        if policy is not None:
            kept = expected(repository, inventory.manifests, policy).tags
            expired |= {(name, t) for t in set(repository.tags) - kept}
    untags = [(a.repository, a.tag) for a in plan.untags]
    assert len(untags) == len(set(untags))
    assert set(untags) == expired
    for action in plan.untags:
        assert action.tag is not None
        tag = inventory.repositories[action.repository].tags[action.tag]
        assert (action.digest, action.pushed_at) == (tag.digest, tag.pushed_at)
    assert all(policy_for(a.repository, policies) for a in plan.actions)
    # no tag that stays is left pointing at a deleted manifest
    deleted = {(a.repository, a.digest) for a in plan.manifest_deletes}
    for name, repository in inventory.repositories.items():
        for tag in repository.tags.values():
            assert (name, tag.name) in expired or (name, tag.digest) not in deleted
    decided = {(d.tag.repository, d.tag.name): d for d in plan.decisions}
    assert {key for key, d in decided.items() if not d.keep} == expired
    for (name, _), decision in decided.items():
        policy = policy_for(name, policies)
        assert policy is not None and decision.policy == policy.name


@given(inventories(), policy_sets())
def test_every_action_and_every_kept_manifest_has_a_reason(
    inventory: Inventory, policies: PolicySet
) -> None:
    plan = build_plan(inventory, policies, NOW)
    assert all(a.reason.strip() for a in plan.actions)
    assert all(d.reason.strip() for d in plan.decisions)
    deleted = {(a.repository, a.digest) for a in plan.manifest_deletes}
    for name, repository in inventory.repositories.items():
        policy = policy_for(name, policies)
        if policy is None:
            continue
        planned = plan_repository(repository, inventory.manifests, policy, NOW)
        for digest in repository.revisions:
            why = planned.why_kept(digest, inventory.manifests)
            assert (why is None) == ((name, digest) in deleted)
            assert why is None or why.strip()


def reaches(edges: Mapping[Digest, set[Digest]], start: Digest, goal: Digest) -> bool:
    seen: set[Digest] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen and node in edges:
            seen.add(node)
            stack.extend(edges[node])
    return False


def assert_parents_first(plan: Plan, inventory: Inventory) -> None:
    """Indexes before their children, artifacts before their subjects: in the list and in
    the waves. Artifact tags are not content-addressed, so they can close a cycle (a
    signature tag on a platform of the index it signs); no order satisfies a cycle, which
    must then be broken at an artifact's tie: a platform deleted before its index breaks
    every pull of it, an artifact outliving its subject for a moment breaks nothing."""
    for name, repository in inventory.repositories.items():
        deletes = [a for a in plan.manifest_deletes if a.repository == name]
        position = {a.digest: i for i, a in enumerate(deletes)}
        wave = {a.digest: a.wave for a in deletes}
        ties = artifact_ties(repository, inventory.manifests, buildx=True)
        children = {d: {c.digest for c in inventory.manifests[d].children} for d in position}
        after = {d: children[d] | ties.get(d, set()) for d in position}
        for digest, targets in after.items():
            for target in targets & set(position) - {digest}:
                # a cycle is broken at an artifact's tie, never at an index's child
                if target in children[digest] or not reaches(after, target, digest):
                    assert position[digest] < position[target]
                    assert wave[digest] < wave[target]
    # untags come first (wave 0): an interrupted run never leaves a tag pointing at nothing
    assert all(a.wave == 0 for a in plan.untags)
    assert all(a.wave >= 1 for a in plan.manifest_deletes)
    kinds = [a.kind for a in plan.actions]
    assert kinds == sorted(kinds, key=lambda k: k != "untag")


@given(inventories(), policy_sets())
def test_parents_and_referrers_are_deleted_before_what_they_reference(
    inventory: Inventory, policies: PolicySet
) -> None:
    assert_parents_first(build_plan(inventory, policies, NOW), inventory)


#: Keeps nothing but what is unknown: every readable revision older than 0 s goes.
DELETE_ALL = Policy(pushed_within=timedelta(0), exclude_tags=None, untagged_grace=timedelta(0))


@given(inventories())
def test_deleting_whole_graphs_still_goes_parents_and_referrers_first(
    inventory: Inventory,
) -> None:
    """Most random policies keep most graphs whole; this one deletes them, order and all."""
    assert_parents_first(build_plan(inventory, DELETE_ALL, NOW), inventory)


@given(inventories(), policy_sets())
def test_applying_the_plan_then_planning_again_plans_nothing(
    inventory: Inventory, policies: PolicySet
) -> None:
    """Idempotence: what a plan leaves is exactly what the policy keeps, so the next plan
    (same policy, same time) is empty, frees nothing, and keeps every tag it kept."""
    first = build_plan(inventory, policies, NOW)
    after = apply(inventory, first, collect=True)
    for name, repository in after.repositories.items():
        before = inventory.repositories[name]
        policy = policy_for(name, policies)
        if policy is None:
            assert repository == before
        else:
            assert set(repository.tags) == expected(before, inventory.manifests, policy).tags
    second = build_plan(after, policies, NOW)
    assert second.actions == ()
    assert second.summary.bytes_reclaimable == 0
    assert second.summary.bytes_already_unreferenced == first.summary.bytes_already_unreferenced
    assert [(d.tag, d.keep) for d in second.decisions] == [
        (d.tag, d.keep) for d in first.decisions if d.keep
    ]


@given(inventories(), policy_sets())
def test_bytes_reclaimable_is_what_gc_frees_because_of_the_plan(
    inventory: Inventory, policies: PolicySet
) -> None:
    plan = build_plan(inventory, policies, NOW)
    before = gc_marked(inventory)
    after = gc_marked(apply(inventory, plan, collect=False))
    freed = {d for d in inventory.blob_sizes if d in before and d not in after}
    assert plan.reclaimable_blobs == freed
    assert plan.summary.blobs_reclaimable == len(freed)
    assert plan.summary.bytes_reclaimable == sum(inventory.blob_sizes[d] for d in freed)
    unreferenced = [s for d, s in inventory.blob_sizes.items() if d not in before]
    assert plan.summary.bytes_already_unreferenced == sum(unreferenced)


@given(inventories(), policy_sets())
def test_the_plan_does_not_depend_on_listing_order(
    inventory: Inventory, policies: PolicySet
) -> None:
    """Listings come back in any order (object storage, threads): the plan must not."""
    shuffled = Inventory(
        repositories={
            name: replace(
                repository,
                tags=dict(reversed(list(repository.tags.items()))),
                revisions=dict(reversed(list(repository.revisions.items()))),
            )
            for name, repository in reversed(list(inventory.repositories.items()))
        },
        manifests=dict(reversed(list(inventory.manifests.items()))),
        blob_sizes=dict(reversed(list(inventory.blob_sizes.items()))),
    )
    assert build_plan(shuffled, policies, NOW) == build_plan(inventory, policies, NOW)


@given(inventories(), policy_sets(), st.data())
def test_keeping_more_never_deletes_more(
    inventory: Inventory, policies: PolicySet, data: st.DataObject
) -> None:
    """Loosening any keep rule (longer age, more kept, wider exclusions, longer grace) can
    only shrink the plan: no setting a user raises to be safer makes regsweep delete more."""
    looser = []
    for policy in policies.policies:
        max_age = policy.pushed_within
        if max_age is not None and data.draw(st.booleans()):
            max_age = max_age + timedelta(days=data.draw(st.integers(0, 60)))
        looser.append(
            replace(
                policy,
                pushed_within=max_age,
                exclude_tags=policy.exclude_tags
                if data.draw(st.booleans()) or policy.exclude_tags is None
                else re.compile(f"{policy.exclude_tags.pattern}|^build"),
                keep_last=policy.keep_last + data.draw(st.integers(0, 2)),
                keep_versions=policy.keep_versions + data.draw(st.integers(0, 2)),
                untagged_grace=policy.untagged_grace
                + timedelta(hours=data.draw(st.integers(0, 48))),
                pinned=policy.pinned | {digest_of(f"manifest-{data.draw(st.integers(0, 5))}")},
                delete_orphan_artifacts=policy.delete_orphan_artifacts and data.draw(st.booleans()),
            )
        )
    strict = build_plan(inventory, policies, NOW)
    loose = build_plan(inventory, replace(policies, policies=tuple(looser)), NOW)
    assert {(a.kind, a.repository, a.tag, a.digest) for a in loose.actions} <= {
        (a.kind, a.repository, a.tag, a.digest) for a in strict.actions
    }
    assert loose.reclaimable_blobs <= strict.reclaimable_blobs
