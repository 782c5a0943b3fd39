"""Storage used per repository, and what the current policy would reclaim (pure, no I/O).

Bytes are counted the way the registry's garbage collector marks them: a repository uses
its manifests and, one level down, their configs and layers (or an index's children). A
blob used by several repositories is shared: deleting one of them frees none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from regsweep.core.blob_marks import BlobMarks
from regsweep.core.graph import marked_blobs
from regsweep.core.model import Digest, Inventory, Repository
from regsweep.plan.planner import Plan
from regsweep.policy.rules import PolicySet


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    """The bytes one repository uses, counted four ways (``regsweep du``)."""

    name: str
    #: the policy that decides the repository; None when none does (it is left alone)
    policy: str | None
    tags: int
    manifests: int
    #: every blob the repository uses
    bytes_total: int
    #: blobs no other repository uses: what deleting the whole repository would free
    bytes_unique: int
    #: blobs other repositories use too
    bytes_shared: int
    #: blobs it uses that nothing in the registry would use once the plan is applied
    bytes_reclaimable: int
    #: the latest pull of any of its tags, when the pull store knows one
    last_pulled: datetime | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "repository": self.name,
            "policy": self.policy,
            "tags": self.tags,
            "manifests": self.manifests,
            "bytes_total": self.bytes_total,
            "bytes_unique": self.bytes_unique,
            "bytes_shared": self.bytes_shared,
            "bytes_reclaimable": self.bytes_reclaimable,
        }
        if self.last_pulled is not None:
            out["last_pulled"] = self.last_pulled.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class Usage:
    """Storage per repository (largest first) and for the whole registry."""

    repositories: tuple[RepositoryUsage, ...]
    #: every blob in the content store, used or not
    bytes_stored: int
    #: what the plan frees in the whole registry, each blob once
    bytes_reclaimable: int
    #: blobs nothing uses even now (waiting for garbage collection)
    bytes_unreferenced: int

    def by_last_pull(self) -> Usage:
        """The rows least recently pulled first, those with no pull recorded before them
        (largest first among equals): the repositories nobody seems to use lead."""
        never = datetime.min.replace(tzinfo=UTC)
        rows = sorted(self.repositories, key=lambda r: (r.last_pulled or never, -r.bytes_total))
        return replace(self, repositories=tuple(rows))

    def to_json(self) -> dict[str, object]:
        return {
            "repositories": [r.to_json() for r in self.repositories],
            "registry": {
                "bytes_stored": self.bytes_stored,
                "bytes_reclaimable": self.bytes_reclaimable,
                "bytes_unreferenced": self.bytes_unreferenced,
            },
        }


#: What ``du`` marks a blob with: one repository uses it; more than one does.
_USED, _SHARED = 1, 2


def disk_usage(inventory: Inventory, policies: PolicySet, plan: Plan) -> Usage:
    """Usage of every repository, largest first; ``plan`` (of ``policies``) is what goes.

    A blob freed by the plan counts as reclaimable in every repository that uses it, so
    the repositories' reclaimable bytes may add up to more than the registry's.
    """
    sizes = inventory.blob_sizes

    def used_by(repository: Repository) -> set[Digest]:
        return marked_blobs(repository.revisions, inventory.manifests) & sizes.keys()

    # Marked twice, one repository at a time, rather than every repository's set kept for
    # the second pass: the sets of a big registry add up to more than its blobs.
    users = BlobMarks(sizes)
    for repository in inventory.repositories.values():
        for digest in used_by(repository):
            users.mark((digest,), _SHARED if users.has(digest, _USED) else _USED)
    rows = []
    for name, repository in inventory.repositories.items():
        used = used_by(repository)
        policy = policies.policy_for(name)
        total = sum(sizes[d] for d in used)
        unique = sum(sizes[d] for d in used if not users.has(d, _SHARED))
        rows.append(
            RepositoryUsage(
                name=name,
                policy=policy.name if policy else None,
                tags=len(repository.tags),
                manifests=len(repository.revisions),
                bytes_total=total,
                bytes_unique=unique,
                bytes_shared=total - unique,
                bytes_reclaimable=sum(sizes[d] for d in used if d in plan.reclaimable_blobs),
                last_pulled=max(
                    (
                        t.activity.pulled.at
                        for t in repository.tags.values()
                        if t.activity is not None and t.activity.pulled is not None
                    ),
                    default=None,
                ),
            )
        )
    rows.sort(key=lambda r: (-r.bytes_total, r.name))
    return Usage(
        repositories=tuple(rows),
        bytes_stored=sum(sizes.values()),
        bytes_reclaimable=plan.summary.bytes_reclaimable,
        bytes_unreferenced=plan.summary.bytes_already_unreferenced,
    )
