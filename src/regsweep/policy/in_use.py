"""Images that workloads run: never deleted, whatever the policy says (pure, no I/O).

A tag that a running container was started from looks old and unused to every age rule,
yet the container's next restart (a node drained, a pod rescheduled, a host rebooted) pulls
it again: deleting it turns a routine restart into an outage. So the references the
workloads use (``--in-use``, ``--in-use-command``) keep their images in every policy:

- a reference by tag keeps that tag (and through it its image);
- a reference by digest keeps that manifest and every tag on it: the workload pulled it by
  digest, and whoever deployed it may still roll back to it by tag;
- a digest that is a platform of a multi-arch index keeps the index and its tags too: the
  platform is only reachable, and only deleted together with, the index that lists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from regsweep.core.model import AgedBy, Digest, Inventory, Tag
from regsweep.core.references import ImageReference


@dataclass(frozen=True, slots=True)
class InUseReference:
    """A reference to this registry that a workload uses, and where it was read."""

    reference: ImageReference
    #: ``refs.txt:3`` or ``the in-use command``
    source: str

    def describe(self) -> str:
        return f"in use as {self.reference.text} ({self.source})"


@dataclass(frozen=True, eq=False)
class InUse:
    """What the references keep, per repository: tags and manifests, each with the reason.

    Compared and hashed by identity (its mappings are not hashable): rules are dictionary
    keys in the planner's decisions, and two lists read at two times are two lists.
    """

    tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    digests: Mapping[str, Mapping[Digest, str]] = field(default_factory=dict)
    #: how many references to this registry were read
    references: int = 0
    #: references whose repository is in the registry but whose tag or digest is not
    missing: tuple[InUseReference, ...] = ()

    def manifests_of(self, repository: str) -> Mapping[Digest, str]:
        """The manifests of ``repository`` kept because they are in use, with the reason."""
        return self.digests.get(repository, {})


@dataclass(frozen=True)
class InUseImages:
    """The keep rule: tags in use, by name or through their digest (see the module)."""

    in_use: InUse

    def describe(self) -> str:
        count = self.in_use.references
        return f"images in use ({count} reference{'s' if count != 1 else ''})"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        kept = {}
        for tag in tags:
            why = self.in_use.tags.get(tag.repository, {}).get(tag.name)
            why = why or self.in_use.digests.get(tag.repository, {}).get(tag.digest)
            if why is not None:
                kept[tag.name] = why
        return kept


def resolve_in_use(references: Iterable[InUseReference], inventory: Inventory) -> InUse:
    """What ``references`` (all to this registry) keep in ``inventory``.

    Digests are followed up to every index that lists them, index of index included.
    """
    tags: dict[str, dict[str, str]] = {}
    digests: dict[str, dict[Digest, str]] = {}
    parents: dict[str, Mapping[Digest, list[Digest]]] = {}
    missing = []
    count = 0
    for use in references:
        count += 1
        ref = use.reference
        repository = inventory.repositories.get(ref.repository)
        if repository is None:
            continue
        found = False
        if ref.tag is not None and ref.tag in repository.tags:
            tags.setdefault(ref.repository, {}).setdefault(ref.tag, use.describe())
            found = True
        if ref.digest is not None and ref.digest in repository.revisions:
            if ref.repository not in parents:
                parents[ref.repository] = _parents(repository.revisions, inventory)
            kept = digests.setdefault(ref.repository, {})
            kept.setdefault(ref.digest, use.describe())
            _keep_indexes(kept, ref.digest, parents[ref.repository], use)
            found = True
        if not found:
            missing.append(use)
    return InUse(tags, digests, count, tuple(missing))


def _parents(revisions: Iterable[Digest], inventory: Inventory) -> dict[Digest, list[Digest]]:
    """Every manifest of a repository -> the indexes of the repository that list it."""
    parents: dict[Digest, list[Digest]] = {}
    for digest in revisions:
        manifest = inventory.manifests.get(digest)
        for entry in manifest.children if manifest is not None else ():
            parents.setdefault(entry.digest, []).append(digest)
    return parents


def _keep_indexes(
    kept: dict[Digest, str],
    digest: Digest,
    parents: Mapping[Digest, list[Digest]],
    use: InUseReference,
) -> None:
    """Keep every index that lists ``digest``, and the indexes that list those in turn."""
    pending = [digest]
    while pending:
        child = pending.pop()
        for parent in parents.get(child, ()):
            if parent not in kept:
                kept[parent] = f"index of {child}, {use.describe()}"
                pending.append(parent)
