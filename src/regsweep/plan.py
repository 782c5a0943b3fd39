"""Turn an inventory and a policy into a Plan: what to delete, why, and what it frees.

Pure: no I/O, the current time is an argument. Nothing in regsweep deletes without a Plan,
and a dry run is this same Plan printed instead of applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from regsweep.durations import format_duration
from regsweep.graph import marked_blobs, parents_first, reachable, referrers_by_subject
from regsweep.model import Digest, Inventory, Manifest, Problem, Repository, Tag
from regsweep.policy import Policy, PolicySet, TagDecision, decide_tags


class ActionKind(StrEnum):
    UNTAG = "untag"
    DELETE_MANIFEST = "delete_manifest"


@dataclass(frozen=True, slots=True)
class Action:
    """One deletion. ``digest`` is what the tag pointed to (untag) or the manifest itself."""

    kind: ActionKind
    repository: str
    digest: Digest
    reason: str
    tag: str | None = None
    #: untag only: the push time the plan saw; a tag re-pushed since then is not touched
    pushed_at: datetime | None = None
    #: actions of wave k start only once every action of the waves before it is done:
    #: untags are wave 0, then indexes and referrers before what they reference
    wave: int = 0

    @property
    def target(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"

    def to_json(self) -> dict[str, str | int]:
        out: dict[str, str | int] = {"action": self.kind.value, "repository": self.repository}
        if self.tag is not None:
            out["tag"] = self.tag
        out["digest"] = self.digest
        out["reason"] = self.reason
        if self.pushed_at is not None:
            out["pushed_at"] = self.pushed_at.isoformat()
        out["wave"] = self.wave
        return out


@dataclass(frozen=True, slots=True)
class Summary:
    repositories: int
    tags: int
    tags_to_delete: int
    manifests: int
    manifests_to_delete: int
    #: bytes of blobs (layers, configs, manifests) that nothing would reference once the plan
    #: is applied, each counted once: what garbage collection then frees because of this plan
    bytes_reclaimable: int
    blobs_reclaimable: int
    #: bytes of blobs that nothing references even now (earlier deletions, never collected)
    bytes_already_unreferenced: int

    def to_json(self) -> dict[str, int]:
        return {
            "repositories": self.repositories,
            "tags": self.tags,
            "tags_to_delete": self.tags_to_delete,
            "manifests": self.manifests,
            "manifests_to_delete": self.manifests_to_delete,
            "bytes_reclaimable": self.bytes_reclaimable,
            "blobs_reclaimable": self.blobs_reclaimable,
            "bytes_already_unreferenced": self.bytes_already_unreferenced,
        }


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    summary: Summary
    decisions: tuple[TagDecision, ...] = ()
    problems: tuple[Problem, ...] = ()
    #: blobs that become unreferenced through this plan (what GC should then remove)
    reclaimable_blobs: frozenset[Digest] = field(default_factory=frozenset)

    @property
    def untags(self) -> list[Action]:
        return [a for a in self.actions if a.kind is ActionKind.UNTAG]

    @property
    def manifest_deletes(self) -> list[Action]:
        return [a for a in self.actions if a.kind is ActionKind.DELETE_MANIFEST]

    def to_json(self) -> dict[str, object]:
        return {
            "actions": [a.to_json() for a in self.actions],
            "summary": self.summary.to_json(),
        }


class PlanInvariantError(AssertionError):
    """The planner produced a plan that would break a kept image: a bug, never data."""


@dataclass(frozen=True)
class RepositoryPlan:
    """The planner's whole reasoning for one repository: what goes, what stays, and why."""

    repository: Repository
    policy: Policy
    decisions: tuple[TagDecision, ...]
    untags: tuple[Action, ...]
    deletes: tuple[Action, ...]
    #: why each root of the kept set is kept (kept tags, grace, pins, unreadable manifests)
    roots: Mapping[Digest, str]
    #: every kept manifest -> the kept manifest it is reached from (None for a root)
    kept: Mapping[Digest, Digest | None]

    def why_kept(self, digest: Digest, manifests: Mapping[Digest, Manifest]) -> str | None:
        """Why a manifest of this repository stays, in words; None when it is deleted."""
        if digest not in self.kept:
            return None
        if digest in self.roots:
            return self.roots[digest]
        parent = self.kept[digest]
        assert parent is not None
        manifest = manifests.get(digest)
        if manifest is not None and manifest.subject == parent:
            link = f"referrer of {parent}"
        else:
            parent_manifest = manifests.get(parent)
            platform = (
                next((c.platform for c in parent_manifest.children if c.digest == digest), None)
                if parent_manifest
                else None
            )
            link = f"{platform or 'child'} of index {parent}"
        return f"{link}, which is kept: {self.why_kept(parent, manifests)}"


def build_plan(inventory: Inventory, policy: Policy | PolicySet, now: datetime) -> Plan:
    """Plan the deletions ``policy`` asks for in ``inventory`` as of ``now``.

    ``policy`` is one policy or an ordered set: each repository is planned by the first
    policy that matches it, and left alone when none does (see :func:`plan_repository`).
    """
    policies = PolicySet.of(policy)
    untags: list[Action] = []
    deletes: list[Action] = []
    decisions: list[TagDecision] = []
    deleted_revisions: dict[str, set[Digest]] = {}
    for name in sorted(inventory.repositories):
        chosen = policies.policy_for(name)
        if chosen is None:
            continue
        planned = plan_repository(inventory.repositories[name], inventory.manifests, chosen, now)
        decisions.extend(planned.decisions)
        untags.extend(planned.untags)
        deletes.extend(planned.deletes)
        deleted_revisions[name] = {a.digest for a in planned.deletes}
    reclaimable, already = _reclaimable(inventory, deleted_revisions)
    summary = Summary(
        repositories=len(inventory.repositories),
        tags=inventory.tag_count,
        tags_to_delete=len(untags),
        manifests=sum(len(r.revisions) for r in inventory.repositories.values()),
        manifests_to_delete=len(deletes),
        bytes_reclaimable=sum(inventory.blob_sizes.get(d, 0) for d in reclaimable),
        blobs_reclaimable=len(reclaimable),
        bytes_already_unreferenced=sum(inventory.blob_sizes.get(d, 0) for d in already),
    )
    return Plan(
        actions=(*untags, *deletes),
        summary=summary,
        decisions=tuple(decisions),
        problems=inventory.problems,
        reclaimable_blobs=frozenset(reclaimable),
    )


def plan_repository(
    repository: Repository, manifests: Mapping[Digest, Manifest], policy: Policy, now: datetime
) -> RepositoryPlan:
    """Plan one repository under ``policy``.

    Tags are decided by the policy; the roots are the kept tags' digests, every manifest
    still in its grace period (a multi-arch push uploads its children before the index that
    tags them, so a young untagged manifest may be about to be referenced), the pinned
    digests, and (when the policy keeps them) artifacts whose subject is gone; everything
    reachable from a root through index children and referrers is kept; every other
    revision is deleted, parents and referrers first.
    """
    decisions = decide_tags(repository, policy, now)
    kept_tags = [d.tag for d in decisions if d.keep]
    expired = [d for d in decisions if not d.keep]
    roots = _roots(repository, kept_tags, manifests, policy, now)
    referrers = referrers_by_subject(repository.revisions, manifests)
    kept = reachable(roots, manifests, referrers)
    unreadable = [d for d in kept if d in repository.revisions and d not in manifests]
    if unreadable:
        # A kept manifest could not be read, so its children and referrers are unknown:
        # any untagged manifest of the repository may be one of them.
        because = f"kept manifest {unreadable[0]} could not be read, so it may reference this"
        for digest in repository.revisions:
            if digest not in kept:
                kept[digest] = None
                roots[digest] = because
    # What cannot be read is never deleted: it may be an index or a referrer of a kept image.
    for digest in repository.revisions:
        if digest not in kept and digest not in manifests:
            kept[digest] = None
            roots[digest] = "manifest could not be read: never deleted"
    doomed = [d for d in repository.revisions if d not in kept]
    untags = [
        Action(
            ActionKind.UNTAG,
            repository.name,
            d.tag.digest,
            d.reason,
            tag=d.tag.name,
            pushed_at=d.tag.pushed_at,
        )
        for d in expired
    ]
    why = _deletion_reasons(repository, doomed, expired, manifests, policy, now)
    order = parents_first(doomed, manifests)
    waves = _waves(order, manifests)
    deletes = [
        Action(ActionKind.DELETE_MANIFEST, repository.name, digest, why[digest], wave=waves[digest])
        for digest in order
    ]
    _check_invariants(repository, kept_tags, kept, deletes)
    return RepositoryPlan(
        repository, policy, tuple(decisions), tuple(untags), tuple(deletes), roots, kept
    )


def _roots(
    repository: Repository,
    kept_tags: list[Tag],
    manifests: Mapping[Digest, Manifest],
    policy: Policy,
    now: datetime,
) -> dict[Digest, str]:
    """The manifests kept for their own sake, each with the reason in words."""
    roots: dict[Digest, str] = {}
    for digest, linked_at in repository.revisions.items():
        if linked_at is None:
            roots[digest] = "push time unknown"
        elif now - linked_at <= policy.untagged_grace:
            roots[digest] = (
                f"pushed {format_duration(now - linked_at)} ago, within the untagged grace "
                f"{format_duration(policy.untagged_grace)}"
            )
        elif digest in policy.pinned:
            roots[digest] = f"pinned by policy {policy.name}"
        elif not policy.delete_orphan_artifacts:
            manifest = manifests.get(digest)
            subject = manifest.subject if manifest is not None else None
            if subject is not None and subject not in repository.revisions:
                roots[digest] = (
                    f"artifact whose subject {subject} is gone; policy {policy.name} "
                    "keeps orphaned artifacts"
                )
    tagged: dict[Digest, list[str]] = {}
    for tag in kept_tags:
        tagged.setdefault(tag.digest, []).append(tag.name)
    for digest, names in tagged.items():
        roots[digest] = f"tagged by kept tag {', '.join(sorted(names))}"
    return roots


def _waves(order: list[Digest], manifests: Mapping[Digest, Manifest]) -> dict[Digest, int]:
    """Wave of each manifest delete: one more than the latest doomed manifest referencing it.

    Waves let deletions run concurrently while an index is still always deleted before its
    children and a referrer before its subject.
    """
    wave = dict.fromkeys(order, 1)
    for digest in order:  # parents first, so a parent's wave is final when reached
        manifest = manifests.get(digest)
        if manifest is None:
            continue
        targets = [c.digest for c in manifest.children]
        if manifest.subject is not None:
            targets.append(manifest.subject)
        for target in targets:
            if target in wave:
                wave[target] = max(wave[target], wave[digest] + 1)
    return wave


def _deletion_reasons(
    repository: Repository,
    doomed: Iterable[Digest],
    expired: list[TagDecision],
    manifests: Mapping[Digest, Manifest],
    policy: Policy,
    now: datetime,
) -> dict[Digest, str]:
    doomed_set = set(doomed)
    expired_tags: dict[Digest, list[str]] = {}
    for decision in expired:
        expired_tags.setdefault(decision.tag.digest, []).append(decision.tag.name)
    parent_of: dict[Digest, tuple[Digest, str | None]] = {}
    for digest in doomed_set:
        manifest = manifests.get(digest)
        for child in manifest.children if manifest else ():
            parent_of.setdefault(child.digest, (digest, child.platform))
    reasons = {}
    for digest in doomed_set:
        manifest = manifests.get(digest)
        if digest in expired_tags:
            names = ", ".join(sorted(expired_tags[digest]))
            reasons[digest] = f"tagged only by expired tags: {names}"
        elif digest in parent_of:
            parent, platform = parent_of[digest]
            reasons[digest] = f"{platform or 'child'} of deleted index {parent}"
        elif manifest is not None and manifest.subject is not None:
            state = "deleted" if manifest.subject in doomed_set else "missing"
            reasons[digest] = f"referrer of {state} manifest {manifest.subject}"
        else:
            linked_at = repository.revisions.get(digest)
            age = format_duration(now - linked_at) if linked_at else "?"
            reasons[digest] = (
                f"untagged, referenced by no kept tag, index or referrer; pushed {age} ago "
                f"(grace {format_duration(policy.untagged_grace)})"
            )
    return reasons


def _check_invariants(
    repository: Repository,
    kept_tags: list[Tag],
    kept: Mapping[Digest, Digest | None],
    deletes: list[Action],
) -> None:
    """Refuse to return a plan that deletes through a digest a kept tag still needs."""
    for action in deletes:
        if action.digest in kept:
            raise PlanInvariantError(f"{action.target} is reachable from a kept tag")
    deleted = {a.digest for a in deletes}
    for tag in kept_tags:
        if tag.digest in deleted:
            raise PlanInvariantError(
                f"kept tag {repository.name}:{tag.name} would lose its manifest"
            )


def _reclaimable(
    inventory: Inventory, deleted: Mapping[str, set[Digest]]
) -> tuple[set[Digest], set[Digest]]:
    """Blobs freed by the plan, and blobs already unreferenced before it.

    Counted over the whole registry, so a layer shared with an image in another repository
    (or an out-of-scope one) is never counted as freed.
    """
    before: set[Digest] = set()
    after: set[Digest] = set()
    for name, repository in inventory.repositories.items():
        gone = deleted.get(name, set())
        before |= marked_blobs(repository.revisions, inventory.manifests)
        after |= marked_blobs(
            (d for d in repository.revisions if d not in gone), inventory.manifests
        )
    existing = set(inventory.blob_sizes)
    return (before - after) & existing, existing - before
