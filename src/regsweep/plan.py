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
from regsweep.policy import Policy, TagDecision, decide_tags


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


def build_plan(inventory: Inventory, policy: Policy, now: datetime) -> Plan:
    """Plan the deletions ``policy`` asks for in ``inventory`` as of ``now``.

    Per repository the policy applies to: tags are decided by the policy; the roots are the
    kept tags' digests plus every manifest still in its grace period (a multi-arch push
    uploads its children before the index that tags them, so a young untagged manifest may
    be about to be referenced); everything reachable from a root through index children and
    referrers is kept; every other revision is deleted, parents and referrers first.
    """
    untags: list[Action] = []
    deletes: list[Action] = []
    decisions: list[TagDecision] = []
    deleted_revisions: dict[str, set[Digest]] = {}
    for name in sorted(inventory.repositories):
        repository = inventory.repositories[name]
        if not policy.applies_to(name):
            continue
        repo_decisions = decide_tags(repository, policy, now)
        decisions.extend(repo_decisions)
        repo_untags, repo_deletes = _plan_repository(
            repository, repo_decisions, inventory.manifests, policy, now
        )
        untags.extend(repo_untags)
        deletes.extend(repo_deletes)
        deleted_revisions[name] = {a.digest for a in repo_deletes}
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


def _plan_repository(
    repository: Repository,
    decisions: list[TagDecision],
    manifests: Mapping[Digest, Manifest],
    policy: Policy,
    now: datetime,
) -> tuple[list[Action], list[Action]]:
    kept_tags = [d.tag for d in decisions if d.keep]
    expired = [d for d in decisions if not d.keep]
    young = [
        digest
        for digest, linked_at in repository.revisions.items()
        if linked_at is None or now - linked_at <= policy.untagged_grace
    ]
    referrers = referrers_by_subject(repository.revisions, manifests)
    kept = reachable([t.digest for t in kept_tags] + young, manifests, referrers)
    if any(d in repository.revisions and d not in manifests for d in kept):
        # A kept manifest could not be read, so its children and referrers are unknown:
        # any untagged manifest of the repository may be one of them.
        kept |= set(repository.revisions)
    # What cannot be read is never deleted: it may be an index or a referrer of a kept image.
    doomed = [d for d in repository.revisions if d not in kept and d in manifests]
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
    return untags, deletes


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
    repository: Repository, kept_tags: list[Tag], kept: set[Digest], deletes: list[Action]
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
