"""Turn an inventory and a policy into a Plan: what to delete, why, and what it frees.

Pure: no I/O, the current time is an argument. Nothing in regsweep deletes without a Plan,
and a dry run is this same Plan printed instead of applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from regsweep.core.artifacts import (
    ArtifactLink,
    artifact_links,
    attestation_subject,
    by_artifact,
    by_subject,
    tag_subject,
)
from regsweep.core.blob_marks import BlobMarks
from regsweep.core.durations import format_duration
from regsweep.core.graph import deletion_order, marked_blobs, reachable
from regsweep.core.model import (
    AgedBy,
    Descriptor,
    Digest,
    Inventory,
    Manifest,
    Problem,
    Repository,
    Tag,
    first_problem,
)
from regsweep.policy.rules import Policy, PolicySet, TagDecision, decide_tags


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
    #: untags are wave 0, then indexes and artifacts before what they reference
    wave: int = 0
    #: for an artifact (the untag of its tag, the delete of its manifest): the manifests it
    #: describes, which the plan deletes in later waves. The action runs only while each is
    #: still going (see regsweep.apply.runner): an artifact deleted under an image kept
    #: after all leaves that image unsigned, and an admission controller that checks
    #: signatures then refuses an image still deployed
    subjects: tuple[Digest, ...] = ()
    #: for a manifest delete: the indexes listing it, which the plan deletes in earlier
    #: waves. One kept after all still lists it, and its pulls would break without it
    parents: tuple[Digest, ...] = ()
    #: untag only: the tag's last pull, when the pull store knows one
    last_pulled: datetime | None = None

    @property
    def target(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"

    def to_json(self) -> dict[str, str | int | list[Digest]]:
        out: dict[str, str | int | list[Digest]] = {
            "action": self.kind.value,
            "repository": self.repository,
        }
        if self.tag is not None:
            out["tag"] = self.tag
        out["digest"] = self.digest
        out["reason"] = self.reason
        if self.pushed_at is not None:
            out["pushed_at"] = self.pushed_at.isoformat()
        if self.last_pulled is not None:
            out["last_pulled"] = self.last_pulled.isoformat()
        out["wave"] = self.wave
        if self.subjects:
            out["subjects"] = list(self.subjects)
        if self.parents:
            out["parents"] = list(self.parents)
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
    #: repositories in the policies' scope left untouched because of damage (see Plan.skipped)
    repositories_skipped: int = 0

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
            "repositories_skipped": self.repositories_skipped,
        }


@dataclass(frozen=True, slots=True)
class SkippedRepository:
    """A repository in the policies' scope that nothing is deleted from: discovery could
    not read it whole, and what it could not read may hide a manifest (the problems say
    what, see :func:`regsweep.core.damage.hides_manifests`)."""

    repository: str
    problems: tuple[Problem, ...]

    @property
    def reason(self) -> str:
        """The first problem, and how many more, in one line."""
        return first_problem(self.problems)

    def to_json(self) -> dict[str, object]:
        return {
            "repository": self.repository,
            "problems": [
                {"location": p.location, "message": p.message, "defect": str(p.defect)}
                for p in self.problems
            ],
        }


@dataclass(frozen=True, slots=True)
class EmptyRepository:
    """A repository the plan leaves with no tag and no manifest, nothing written in it
    since ``written_before``: removed on storage, so it leaves ``_catalog`` too."""

    repository: str
    written_before: datetime

    def to_json(self) -> dict[str, str]:
        return {"repository": self.repository, "written_before": self.written_before.isoformat()}


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    summary: Summary
    decisions: tuple[TagDecision, ...] = ()
    problems: tuple[Problem, ...] = ()
    #: blobs that become unreferenced through this plan (what GC should then remove); a
    #: registry-wide set, over the planner's marks (a byte a blob)
    reclaimable_blobs: Set[Digest] = field(default_factory=frozenset)
    #: repositories in scope that nothing is deleted from, because of damage
    skipped: tuple[SkippedRepository, ...] = ()
    #: every repository some policy covers, the skipped ones included
    scope: frozenset[str] = frozenset()
    #: repositories left empty and old enough to remove (storage), once the actions are done
    empty: tuple[EmptyRepository, ...] = ()
    #: repositories left empty that this plan cannot remove (the API has no way to)
    left_empty: tuple[str, ...] = ()

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
            "skipped": [s.to_json() for s in self.skipped],
            "remove_empty_repositories": [e.to_json() for e in self.empty],
            "left_empty": list(self.left_empty),
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
    #: every artifact of the repository -> how it is tied to its subjects
    artifacts: Mapping[Digest, list[ArtifactLink]] = field(default_factory=dict)

    def why_kept(self, digest: Digest, manifests: Mapping[Digest, Manifest]) -> str | None:
        """Why a manifest of this repository stays, in words; None when it is deleted."""
        if digest not in self.kept:
            return None
        if digest in self.roots:
            return self.roots[digest]
        parent = self.kept[digest]
        assert parent is not None
        tie = next((t for t in self.artifacts.get(digest, ()) if t.subject == parent), None)
        if tie is not None:
            link = f"artifact of {parent} ({tie.via})"
        else:
            parent_manifest = manifests.get(parent)
            entries = parent_manifest.children if parent_manifest is not None else ()
            entry = next((c for c in entries if c.digest == digest), None)
            described = attestation_subject(entry) if entry is not None else None
            if described is not None:
                link = f"buildx attestation of {described} in index {parent}"
            else:
                platform = entry.platform if entry is not None else None
                link = f"{platform or 'child'} of index {parent}"
        return f"{link}, which is kept: {self.why_kept(parent, manifests)}"


def build_plan(
    inventory: Inventory,
    policy: Policy | PolicySet,
    now: datetime,
    *,
    remove_empty: bool = False,
) -> Plan:
    """Plan the deletions ``policy`` asks for in ``inventory`` as of ``now``.

    What stays referenced and what the deleted revisions reference are marks a byte a blob
    (:class:`~regsweep.core.blob_marks.BlobMarks`), and the blobs the plan frees
    (:attr:`Plan.reclaimable_blobs`) a set over them.

    A repository the plan leaves with no tag and no manifest, and where nothing was written
    within the policy's untagged grace (an upload, a link: a push may be starting), is
    listed in :attr:`Plan.empty` when ``remove_empty`` (storage), else in
    :attr:`Plan.left_empty`. A registry keeps empty repositories in ``_catalog`` forever
    (distribution #2747).

    ``policy`` is one policy or an ordered set: each repository is planned by the first
    policy that matches it, and left alone when none does (see :func:`plan_repository`).
    A repository in scope whose damage may hide a manifest is skipped whole and listed
    (:attr:`Plan.skipped`); damage out of scope concerns no plan.
    """
    policies = PolicySet.of(policy)
    untags: list[Action] = []
    deletes: list[Action] = []
    decisions: list[TagDecision] = []
    deleted_revisions: dict[str, set[Digest]] = {}
    damage = inventory.damage()
    skipped: list[SkippedRepository] = []
    scope: set[str] = set()
    empty: list[EmptyRepository] = []
    for name in sorted(inventory.repositories.keys() | damage.keys()):
        chosen = policies.policy_for(name)
        if chosen is None:
            continue
        scope.add(name)
        if name in damage:
            skipped.append(SkippedRepository(name, tuple(damage[name])))
            continue
        planned = plan_repository(
            inventory.repositories[name],
            inventory.manifests,
            chosen,
            now,
            aged=inventory.aged_by,
        )
        decisions.extend(planned.decisions)
        untags.extend(planned.untags)
        deletes.extend(planned.deletes)
        deleted_revisions[name] = {a.digest for a in planned.deletes}
        if _left_empty(planned, now):
            empty.append(EmptyRepository(name, now - chosen.untagged_grace))
    reclaimable, bytes_reclaimable, bytes_already = _reclaimable(
        inventory, deleted_revisions, damage.keys()
    )
    summary = Summary(
        repositories=len(inventory.repositories),
        tags=inventory.tag_count,
        tags_to_delete=len(untags),
        manifests=sum(len(r.revisions) for r in inventory.repositories.values()),
        manifests_to_delete=len(deletes),
        bytes_reclaimable=bytes_reclaimable,
        blobs_reclaimable=len(reclaimable),
        bytes_already_unreferenced=bytes_already,
        repositories_skipped=len(skipped),
    )
    return Plan(
        actions=(*untags, *deletes),
        summary=summary,
        decisions=tuple(decisions),
        problems=inventory.problems,
        reclaimable_blobs=reclaimable,
        skipped=tuple(skipped),
        scope=frozenset(scope),
        empty=tuple(empty) if remove_empty else (),
        left_empty=() if remove_empty else tuple(e.repository for e in empty),
    )


def _left_empty(planned: RepositoryPlan, now: datetime) -> bool:
    """Whether the plan leaves the repository without tags and manifests, nothing written
    in it within the grace (unknown over the API: then it counts as old enough, since the
    plan can only say it cannot remove it)."""
    repository = planned.repository
    untagged = {a.tag for a in planned.untags}
    deleted = {a.digest for a in planned.deletes}
    last = repository.last_write
    return (
        repository.tags.keys() <= untagged
        and repository.revisions.keys() <= deleted
        and (last is None or now - last > planned.policy.untagged_grace)
    )


def plan_repository(
    repository: Repository,
    manifests: Mapping[Digest, Manifest],
    policy: Policy,
    now: datetime,
    *,
    aged: AgedBy = AgedBy.PUSH,
) -> RepositoryPlan:
    """Plan one repository under ``policy``; ``aged``: what its times are (the reasons say
    "pushed" on storage, "built" over the API).

    Tags are decided by the policy, except artifact tags, which follow their subject. The
    roots are the kept tags' digests, every manifest still in its grace period (a
    multi-arch push uploads its children before the index that tags them, so a young
    untagged manifest may be about to be referenced), the pinned digests, and (when the
    policy keeps them) artifacts whose subject is gone. An artifact whose subject is here is
    never a root by its own age: it follows its subject (:mod:`regsweep.core.artifacts`).
    Everything reachable from a root through index children and artifacts is kept; every
    other revision is deleted, parents and artifacts first.
    """
    links = artifact_links(repository, manifests)
    ties = by_artifact(t for t in links if t.follows_subject)
    orphans = {
        artifact
        for artifact, its in ties.items()
        if all(t.subject not in repository.revisions for t in its)
    }
    ruled = decide_tags(repository, policy, now, aged)
    roots = _roots(repository, [d.tag for d in ruled if d.keep], ties, orphans, policy, now, aged)
    subjects = by_subject(links)
    kept = reachable(roots, manifests, subjects)
    unreadable = [d for d in kept if d in repository.revisions and d not in manifests]
    if unreadable:
        # A kept manifest could not be read, so its children and referrers are unknown:
        # any untagged manifest of the repository may be one of them.
        because = f"kept manifest {min(unreadable)} could not be read, so it may reference this"
        for digest in repository.revisions:
            if digest not in kept:
                kept[digest] = None
                roots[digest] = because
    elif unread := [d for d in repository.revisions if d not in manifests]:
        # What cannot be read is never deleted: it may be an index or a referrer of a kept
        # image. Being kept, it keeps its artifacts too.
        roots.update(dict.fromkeys(unread, "manifest could not be read: never deleted"))
        kept = reachable(roots, manifests, subjects)
    decisions = sorted(
        [*ruled, *_artifact_tag_decisions(repository, roots, kept, policy)],
        key=lambda d: d.tag.name,
    )
    kept_tags = [d.tag for d in decisions if d.keep]
    expired = [d for d in decisions if not d.keep]
    doomed = [d for d in repository.revisions if d not in kept]
    doomed_set = set(doomed)
    untags = [
        Action(
            ActionKind.UNTAG,
            repository.name,
            d.tag.digest,
            d.reason,
            tag=d.tag.name,
            pushed_at=d.tag.pushed_at,
            subjects=(d.artifact_of,) if d.artifact_of in doomed_set else (),
            last_pulled=_last_pulled(d.tag),
        )
        for d in expired
    ]
    why = _deletion_reasons(
        repository, doomed, expired, manifests, ties, orphans, policy, now, aged
    )
    described = {a: [t.subject for t in its] for a, its in by_artifact(links).items()}
    parents = _parents(doomed_set, manifests)
    deletes = [
        Action(
            ActionKind.DELETE_MANIFEST,
            repository.name,
            digest,
            why[digest],
            wave=wave,
            subjects=tuple(
                sorted(({t.subject for t in ties.get(digest, ())} & doomed_set) - {digest})
            ),
            parents=tuple(sorted(parents.get(digest, ()))),
        )
        for digest, wave in deletion_order(doomed, manifests, described)
    ]
    _check_invariants(repository, kept_tags, kept, deletes)
    return RepositoryPlan(
        repository, policy, tuple(decisions), tuple(untags), tuple(deletes), roots, kept, ties
    )


def _last_pulled(tag: Tag) -> datetime | None:
    pulled = tag.activity.pulled if tag.activity is not None else None
    return pulled.at if pulled is not None else None


def _roots(
    repository: Repository,
    kept_tags: list[Tag],
    ties: Mapping[Digest, list[ArtifactLink]],
    orphans: set[Digest],
    policy: Policy,
    now: datetime,
    aged: AgedBy,
) -> dict[Digest, str]:
    """The manifests kept for their own sake, each with the reason in words."""
    roots: dict[Digest, str] = {}
    for digest, linked_at in repository.revisions.items():
        attached = digest in ties and digest not in orphans
        gone = min(t.subject for t in ties[digest]) if digest in orphans else None
        why = _own_reason(digest, linked_at, attached, gone, policy, now, aged)
        if why is not None:
            roots[digest] = why
    tagged: dict[Digest, list[str]] = {}
    for tag in kept_tags:
        tagged.setdefault(tag.digest, []).append(tag.name)
    for digest, names in tagged.items():
        roots[digest] = f"tagged by kept tag {', '.join(sorted(names))}"
    if policy.in_use is not None:
        # a workload runs it by digest, or it is the index of one that does: say which
        for digest, why in policy.in_use.manifests_of(repository.name).items():
            roots[digest] = why
    return roots


def _own_reason(
    digest: Digest,
    linked_at: datetime | None,
    attached: bool,
    gone: Digest | None,
    policy: Policy,
    now: datetime,
    aged: AgedBy,
) -> str | None:
    """Why a revision is kept whatever references it, or None.

    ``attached``: an artifact whose subject is here; ``gone``: the subject of an orphan.

    An attached artifact is not kept for its own age: young, or of unknown age (every
    signature over the API), it would outlive the image it describes. An orphan keeps the
    grace, since its subject may be a push still in progress, but not an unknown age: its
    subject was looked up and is gone, so its age decides nothing.
    """
    if not attached:
        if gone is not None and not policy.delete_orphan_artifacts:
            return f"{_orphaned(gone)}; policy {policy.name} keeps orphaned artifacts"
        if linked_at is None:
            if gone is None:
                return aged.unknown
        elif now - linked_at <= policy.untagged_grace:
            return (
                f"{aged.value} {format_duration(now - linked_at)} ago, within the untagged grace "
                f"{format_duration(policy.untagged_grace)}"
            )
    if digest in policy.pinned:
        return f"pinned by policy {policy.name}"
    return None


def _artifact_tag_decisions(
    repository: Repository,
    roots: Mapping[Digest, str],
    kept: Mapping[Digest, Digest | None],
    policy: Policy,
) -> list[TagDecision]:
    """Keep an artifact tag exactly when its subject is kept; an orphan's, when its manifest is.

    The policy's rules never see these tags (see :func:`regsweep.policy.rules.decide_tags`).
    """
    decisions = []
    for tag in repository.tags.values():
        subject = tag_subject(tag.name)
        if subject is None:
            continue
        if subject in repository.revisions:
            keep = subject in kept
            reason = (
                f"artifact of {subject}, which is kept"
                if keep
                else f"artifact of deleted manifest {subject}"
            )
        else:
            keep = tag.digest in kept
            reason = _orphaned(subject)
            if keep:
                reason = roots.get(tag.digest) or f"{reason}; its manifest is kept"
        decisions.append(TagDecision(tag, keep, reason, policy.name, artifact_of=subject))
    return decisions


def _parents(
    doomed: set[Digest], manifests: Mapping[Digest, Manifest]
) -> dict[Digest, set[Digest]]:
    """Each deleted manifest -> the deleted indexes that list it."""
    parents: dict[Digest, set[Digest]] = {}
    for digest in doomed:
        manifest = manifests.get(digest)
        for child in manifest.children if manifest is not None else ():
            if child.digest in doomed and child.digest != digest:
                parents.setdefault(child.digest, set()).add(digest)
    return parents


def _orphaned(subject: Digest) -> str:
    return f"orphaned artifact: subject {subject} no longer exists"


def _deletion_reasons(
    repository: Repository,
    doomed: Iterable[Digest],
    expired: list[TagDecision],
    manifests: Mapping[Digest, Manifest],
    ties: Mapping[Digest, list[ArtifactLink]],
    orphans: set[Digest],
    policy: Policy,
    now: datetime,
    aged: AgedBy,
) -> dict[Digest, str]:
    doomed_set = set(doomed)
    expired_tags: dict[Digest, list[str]] = {}
    for decision in expired:
        expired_tags.setdefault(decision.tag.digest, []).append(decision.tag.name)
    # a platform listed by several deleted indexes names the smallest: never the first a
    # set yields, whose order follows hash randomisation and the listing, or two plans of
    # one registry would differ
    parent_of: dict[Digest, tuple[Digest, Descriptor]] = {}
    for digest in sorted(doomed_set):
        manifest = manifests.get(digest)
        for child in manifest.children if manifest else ():
            parent_of.setdefault(child.digest, (digest, child))
    reasons = {}
    for digest in doomed_set:
        if digest in orphans:
            reasons[digest] = _orphaned(ties[digest][0].subject)
        elif digest in ties:
            # its subjects here are all deleted too, or it would have been reached from them
            tie = next(t for t in ties[digest] if t.subject in repository.revisions)
            reasons[digest] = f"artifact of deleted manifest {tie.subject} ({tie.via})"
        elif digest in expired_tags:
            names = ", ".join(sorted(expired_tags[digest]))
            reasons[digest] = f"tagged only by expired tags: {names}"
        elif digest in parent_of:
            parent, entry = parent_of[digest]
            described = attestation_subject(entry)
            reasons[digest] = (
                f"buildx attestation of {described} in deleted index {parent}"
                if described is not None
                else f"{entry.platform or 'child'} of deleted index {parent}"
            )
        else:
            linked_at = repository.revisions.get(digest)
            age = format_duration(now - linked_at) if linked_at else "?"
            reasons[digest] = (
                f"untagged, referenced by no kept tag, index or referrer; {aged.value} {age} ago "
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


#: What :func:`_reclaimable` marks a blob with: some revision still references it after
#: the plan; a revision the plan deletes references it.
_KEPT, _DROPPED = 1, 2


def _reclaimable(
    inventory: Inventory,
    deleted: Mapping[str, set[Digest]],
    damaged: Iterable[str],
) -> tuple[Set[Digest], int, int]:
    """Blobs freed by the plan (a set over the marks, a byte a blob), their bytes, and the
    bytes of blobs already unreferenced before it.

    Counted over the whole registry, so a layer shared with an image in another repository
    (or an out-of-scope one) is never counted as freed. A damaged repository may reference
    any blob linked into it (what it could not read may need them), so those count as used,
    as regsweep's collector keeps them.
    """
    # Two marks, not everything before and everything after: ``before`` is kept or
    # dropped, ``after`` is kept.
    marks = BlobMarks(inventory.blob_sizes)
    for name in damaged:
        if name in inventory.repositories:
            marks.mark(inventory.repositories[name].layers, _KEPT)
    for name, repository in inventory.repositories.items():
        gone = deleted.get(name, set())
        marks.mark(
            marked_blobs((d for d in repository.revisions if d not in gone), inventory.manifests),
            _KEPT,
        )
        marks.mark(
            marked_blobs((d for d in repository.revisions if d in gone), inventory.manifests),
            _DROPPED,
        )
    return marks.set_of(_DROPPED), marks.bytes_only(_DROPPED), marks.bytes_only(0)
