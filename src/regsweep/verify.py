"""Verify that every remaining tag still pulls, judged from the storage itself.

For a pull to work, the registry needs, in the tag's repository: the tag's current link,
a revision link for the manifest and its blob; for an image, a ``_layers`` link and a blob
for the config and every layer; for an index, all of that for every child. This is checked
for every tag after a run, so a broken image is found by regsweep, not by a deploy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from regsweep.core import mediatypes
from regsweep.core.model import Digest, Inventory, Repository


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    repository: str
    tag: str
    message: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}: {self.message}"


@dataclass
class VerifyReport:
    tags_checked: int = 0
    manifests_checked: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "tags_checked": self.tags_checked,
            "manifests_checked": self.manifests_checked,
            "problems": [
                {"repository": p.repository, "tag": p.tag, "message": p.message}
                for p in self.problems
            ],
        }


def verify_inventory(inventory: Inventory) -> VerifyReport:
    """Check every tag of a freshly discovered inventory (pure: discovery did the I/O)."""
    report = VerifyReport()
    checked: set[tuple[str, Digest]] = set()
    for name in sorted(inventory.repositories):
        repository = inventory.repositories[name]
        for tag in sorted(repository.tags.values(), key=lambda t: t.name):
            report.tags_checked += 1
            for message in _missing(repository, tag.digest, inventory, checked, report):
                report.problems.append(VerifyProblem(name, tag.name, message))
    return report


def _missing(
    repository: Repository,
    digest: Digest,
    inventory: Inventory,
    checked: set[tuple[str, Digest]],
    report: VerifyReport,
) -> list[str]:
    """What is missing for ``digest`` to pull from ``repository`` (recursing into indexes)."""
    problems: list[str] = []
    stack = [(digest, "")]
    seen: set[Digest] = set()
    while stack:
        current, via = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        where = f" (platform {via})" if via else ""
        if current not in repository.revisions:
            problems.append(f"manifest {current}{where} is not in the repository")
            continue
        manifest = inventory.manifests.get(current)
        if manifest is None:
            problems.append(f"manifest {current}{where} is missing or unreadable")
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
                problems.append(f"blob {blob.digest}{where} is missing from storage")
            elif blob.digest not in repository.layers:
                problems.append(f"blob {blob.digest}{where} is not linked into the repository")
    return problems
