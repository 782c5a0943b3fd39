"""Verify that every remaining tag still pulls, judged from the storage itself.

For a pull to work, the registry needs, in the tag's repository: the tag's current link,
a revision link for the manifest and its blob; for an image, a ``_layers`` link and a blob
for the config and every layer; for an index, all of that for every child. This is checked
for every tag after a run, so a broken image is found by regsweep, not by a deploy.

Verify sees what the registry sees: a link holding no digest (the registry answers 500), a
manifest blob cut short or missing, each breaks the tags that need it, and the report names
the file to repair. What regsweep does not follow (a symlinked tag or repository, a folder
whose name is not a name) cannot be checked, and is listed as not verified.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from regsweep.core import mediatypes
from regsweep.core.damage import Defect
from regsweep.core.model import Digest, Inventory, Problem, Repository

#: What to do about each kind of damage under a tag, said after the file to repair.
_REPAIR = {
    Defect.TAG_LINK: "the registry answers 500 for the tag; push it again",
    Defect.REVISION_LINK: "the registry answers 500 for it; write {digest} into it, or push "
    "the image again",
    Defect.REVISION_LINK_FOREIGN: "the registry does not serve it; write {digest} into it, or "
    "push the image again",
    Defect.MANIFEST_UNPARSEABLE: "the registry answers 500 for it; push the image again",
    Defect.MANIFEST_MISSING: "the registry answers 404 for it; push the image again",
    Defect.LAYER_LINK: "the repository cannot serve the blob; push the image again",
}
#: Damage that hides which manifests a repository holds: none of its tags can be checked.
_UNLISTED = frozenset({Defect.REVISION_SYMLINK, Defect.REPOSITORY_SYMLINK, Defect.INVALID_NAME})
#: Damage that keeps a tag, or a whole repository, from being checked at all.
_UNCHECKABLE = frozenset(
    {
        Defect.TAG_SYMLINK,
        Defect.REVISION_SYMLINK,
        Defect.REPOSITORY_SYMLINK,
        Defect.INVALID_NAME,
    }
)


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    repository: str
    tag: str
    message: str
    #: where the damage discovery found that explains it (the file to repair), if any
    damage: str | None = None

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}: {self.message}"


@dataclass
class VerifyReport:
    tags_checked: int = 0
    manifests_checked: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)
    #: what could not be checked (a symlink, not followed), each with why
    unverified: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every tag checked pulls, and nothing was left unchecked."""
        return not (self.problems or self.unverified)

    def ok_besides(self, known: Collection[str]) -> bool:
        """Nothing is broken or unchecked but by the damage at ``known`` locations: what a
        run found before it changed anything, and so did not cause."""
        return all(p.damage in known for p in self.problems) and all(
            u.location in known for u in self.unverified
        )

    def to_json(self) -> dict[str, object]:
        return {
            "tags_checked": self.tags_checked,
            "manifests_checked": self.manifests_checked,
            "problems": [
                {"repository": p.repository, "tag": p.tag, "message": p.message}
                for p in self.problems
            ],
            "unverified": [
                {"repository": p.repository, "location": p.location, "message": p.message}
                for p in self.unverified
            ],
        }


def verify_inventory(inventory: Inventory) -> VerifyReport:
    """Check every tag of a freshly discovered inventory (pure: discovery did the I/O)."""
    report = VerifyReport()
    checked: set[tuple[str, Digest]] = set()
    damage = _Damage(inventory.problems)
    unlisted = {p.repository for p in inventory.problems if p.defect in _UNLISTED}
    for name in sorted(inventory.repositories.keys() - unlisted):
        repository = inventory.repositories[name]
        for tag in sorted(repository.tags.values(), key=lambda t: t.name):
            report.tags_checked += 1
            for message, cause in _missing(
                repository, tag.digest, inventory, damage, checked, report
            ):
                report.problems.append(VerifyProblem(name, tag.name, message, cause))
    for problem in inventory.problems:
        if problem.defect is Defect.TAG_LINK and problem.repository and problem.subject:
            report.tags_checked += 1
            message = f"tag link {problem.location} holds no digest: {_REPAIR[Defect.TAG_LINK]}"
            report.problems.append(
                VerifyProblem(problem.repository, problem.subject, message, problem.location)
            )
        elif problem.defect in _UNCHECKABLE:
            report.unverified.append(problem)
    report.problems.sort(key=lambda p: (p.repository, p.tag))
    return report


class _Damage:
    """The damage discovery found, by where it is: (repository, digest) of a revision link
    or a manifest, (repository, blob) of a layer link."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.at: dict[tuple[str, str], Problem] = {
            (p.repository, p.subject): p
            for p in problems
            if p.defect in _REPAIR and p.repository is not None and p.subject is not None
        }

    def explain(self, repository: str, digest: Digest, what: str) -> tuple[str, str] | None:
        """``what`` broken by the damage at ``digest`` in ``repository``, with the file to
        repair and how, and that file; None when there is none."""
        problem = self.at.get((repository, digest))
        if problem is None or problem.defect is None:
            return None
        repair = _REPAIR[problem.defect].format(digest=digest)
        return f"{what}: {problem.location}: {problem.message}; {repair}", problem.location


def _missing(
    repository: Repository,
    digest: Digest,
    inventory: Inventory,
    damage: _Damage,
    checked: set[tuple[str, Digest]],
    report: VerifyReport,
) -> list[tuple[str, str | None]]:
    """What is missing for ``digest`` to pull from ``repository`` (recursing into indexes),
    each with the location of the damage that explains it, if any."""
    problems: list[tuple[str, str | None]] = []
    stack = [(digest, "")]
    seen: set[Digest] = set()
    while stack:
        current, via = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        where = f" (platform {via})" if via else ""
        if current not in repository.revisions:
            problems.append((f"manifest {current}{where} is not in the repository", None))
            continue
        manifest = inventory.manifests.get(current)
        damaged = damage.explain(repository.name, current, f"manifest {current}{where}")
        if damaged is not None:
            problems.append(damaged)
            if manifest is None:
                continue
        elif manifest is None:
            problems.append((f"manifest {current}{where} is missing or unreadable", None))
            continue
        if (repository.name, current) not in checked:
            checked.add((repository.name, current))
            report.manifests_checked += 1
        for child in manifest.children:
            stack.append((child.digest, child.platform or child.digest))
        blobs = [manifest.config] if manifest.config is not None else []
        blobs.extend(manifest.layers)
        for blob in blobs:
            if mediatypes.is_foreign_layer(blob.media_type):
                continue
            if blob.digest not in inventory.blob_sizes:
                problems.append((f"blob {blob.digest}{where} is missing from storage", None))
            elif not repository.links(blob.digest):
                broken = damage.explain(repository.name, blob.digest, f"blob {blob.digest}{where}")
                problems.append(
                    broken or (f"blob {blob.digest}{where} is not linked into the repository", None)
                )
    return problems
