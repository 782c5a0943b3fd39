"""Remove a repository left empty by a run, so it leaves ``_catalog`` (distribution #2747).

The registry has no API to delete a repository and lists one with no tags forever; on
storage, a repository is removed by removing its ``_manifests``, ``_layers`` and
``_uploads`` folders, then its folder and the folders of names above it that are empty
(a repository nested in it, ``team/app`` in ``team``, stays with its folders).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from regsweep.plan.planner import EmptyRepository
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import DeletingStore
from regsweep.state.journal import Journal


@dataclass(frozen=True)
class EmptyReport:
    """The empty repositories a run removed, and those it kept after all, with why."""

    removed: tuple[str, ...] = ()
    kept: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "removed": list(self.removed),
            "kept": [{"repository": name, "reason": why} for name, why in self.kept],
        }


def remove_empty_repositories(
    store: DeletingStore, empty: Sequence[EmptyRepository], journal: Journal
) -> EmptyReport:
    """Remove each repository the plan left empty, each journalled."""
    removed: list[str] = []
    kept: list[tuple[str, str]] = []
    for entry in empty:
        why = remove_empty_repository(store, entry.repository, entry.written_before)
        journal.write(
            "remove_repository",
            repository=entry.repository,
            outcome="kept" if why else "deleted",
            detail=why or "",
        )
        if why is None:
            removed.append(entry.repository)
        else:
            kept.append((entry.repository, why))
    return EmptyReport(tuple(removed), tuple(kept))


def remove_empty_repository(
    store: DeletingStore, repository: str, written_before: datetime
) -> str | None:
    """Remove ``repository`` if it is still empty: no tag, no manifest, nothing written
    since ``written_before`` (an upload or a link written since may be a push starting);
    None when removed, else why it stays.

    Looked at again just before: the run may have been planned a while ago.
    """
    cutoff = written_before.timestamp()
    skip = len(layout.REPOSITORIES) + 1
    for stored in store.list_files(layout.repository_folder(repository)):
        split = layout.split_repository_path(stored.path[skip:])
        if split is None or split.repository != repository:
            continue  # a repository nested in it
        if stored.is_link:
            return f"{stored.path} is a symlink (never deleted through)"
        if stored.mtime > cutoff:
            return f"{stored.path} was written since the plan's grace began"
        rest = split.rest
        tag_or_revision = rest[-2:-1] == ("current",) or rest[:1] == ("revisions",)
        if split.section == "_manifests" and rest[-1:] == ("link",) and tag_or_revision:
            return f"{stored.path}: a tag or manifest is still there"
    for folder in layout.metadata_folders(repository):
        store.delete_tree(folder)
    parts = repository.split("/")
    store.remove_empty_folders(
        [layout.repository_folder("/".join(parts[:n])) for n in range(len(parts), 0, -1)]
    )
    return None
