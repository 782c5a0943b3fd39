"""Carry out actions on the registry's storage, with the registry API for manifest deletes.

Every action first re-reads what it acts on, because the registry keeps serving pushes
between planning and applying: a tag re-pushed since planning, or a manifest that a tag or
a new index now references, is skipped and reported, never deleted. The same re-read tells
the runner whether a manifest an artifact relies on is still going
(:meth:`StorageApplier.why_kept`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.apply.runner import DigestKept
from regsweep.core import names
from regsweep.core.manifests import ManifestError, parse_manifest
from regsweep.core.model import Digest
from regsweep.plan.planner import Action
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import DeletingStore, StoredFile

T = TypeVar("T")

#: A push time read back within this many seconds of the planned one is the same push.
_MTIME_TOLERANCE = 1e-3


class ManifestDeleter(Protocol):
    """The registry API's manifest delete: True when deleted, False when already gone."""

    async def delete_manifest(self, repository: str, digest: Digest) -> bool: ...


class StorageApplier:
    """Untags on storage; deletes manifests through the API when given, else on storage.

    ``untags`` are the plan's: a tag it removes, not re-pushed since, keeps nothing.
    ``known_revisions`` are the revisions each repository had at planning time: any other
    revision found at apply time was pushed since and is checked for references.
    """

    def __init__(
        self,
        store: DeletingStore,
        untags: Iterable[Action],
        known_revisions: Mapping[str, frozenset[Digest]],
        api: ManifestDeleter | None = None,
    ) -> None:
        self.store = store
        self.untags = {(a.repository, a.tag): a for a in untags}
        self.known_revisions = known_revisions
        self.api = api

    async def _io(self, function: Callable[[Action], T], action: Action) -> T:
        """Run a storage step: inline on a store whose calls block only briefly (a local
        folder), in a thread on anything slower (:attr:`ReadableStore.blocks_briefly`).

        A local file operation takes microseconds; handing it to a thread costs more than
        it saves (measured: 1.6x slower apply). Object storage calls take milliseconds and
        must not block the event loop that drives the API deletes.
        """
        if self.store.blocks_briefly:
            return function(action)
        return await asyncio.to_thread(function, action)

    async def untag(self, action: Action, digest_kept: DigestKept) -> ActionResult:
        """Remove the tag alone: whether its manifest goes too is left to that manifest's
        own delete, so ``digest_kept`` is not asked."""
        return await self._io(self._untag, action)

    def _untag(self, action: Action) -> ActionResult:
        """Remove the tag's folder, as the registry's own tag delete does.

        Only the tag goes: every other tag on the same digest, and the manifest, stay.
        """
        assert action.tag is not None
        link = layout.tag_current_link(action.repository, action.tag)
        stat = self.store.stat(link)
        if stat is None:
            return ActionResult(action, Outcome.ALREADY_GONE, "tag no longer exists")
        try:
            current = layout.parse_link(self.store.read(link))
        except FileNotFoundError:
            return ActionResult(action, Outcome.ALREADY_GONE, "tag no longer exists")
        if current != action.digest:
            return ActionResult(action, Outcome.SKIPPED, f"re-pushed since planning: now {current}")
        if not _same_push(stat, action):
            return ActionResult(action, Outcome.SKIPPED, "re-pushed since planning (same digest)")
        self.store.delete_tree(layout.tag_folder(action.repository, action.tag))
        return ActionResult(action, Outcome.DELETED)

    async def why_kept(self, action: Action, wave: int) -> str | None:
        """Why the manifest must stay after all, read from storage now (any wave alike): a
        tag on it, or a revision pushed since planning that references it."""
        return await self._io(self._still_referenced, action)

    async def delete_manifest(self, action: Action) -> ActionResult:
        reason = await self.why_kept(action, action.wave)
        if reason is not None:
            return ActionResult(action, Outcome.SKIPPED, reason)
        if self.api is not None:
            deleted = await self.api.delete_manifest(action.repository, action.digest)
            if not deleted:
                return ActionResult(action, Outcome.ALREADY_GONE, "registry: manifest unknown")
            return ActionResult(action, Outcome.DELETED, "via registry API")
        return await self._io(self._delete_manifest_on_storage, action)

    def _still_referenced(self, action: Action) -> str | None:
        """Why the manifest must stay after all, or None: re-read tags and new revisions.

        A tag on it that the plan untags and that was not re-pushed since keeps nothing: its
        untag removes it, or already has (an artifact's untag asks this of its subject
        while the subject's own untags run in the same wave).
        """
        repository, digest = action.repository, action.digest
        tags = layout.tags_folder(repository)
        for tag in self.store.list_dir(tags):
            if not names.is_tag_name(tag):
                continue
            link = layout.tag_current_link(repository, tag)
            try:
                current = layout.parse_link(self.store.read(link))
            except (FileNotFoundError, ValueError):
                continue
            if current == digest and not self._untagged_by_plan(repository, tag, link, digest):
                return f"tag {tag} points to it now"
        known = self.known_revisions.get(repository, frozenset())
        for hex_ in self.store.list_dir(layout.revisions_folder(repository)):
            other = layout.digest_from_hex(hex_)
            if other is None or other in known or other == digest:
                continue
            if self.store.stat(layout.revision_link(repository, other)) is None:
                continue  # an empty folder left by an API delete: not a manifest any more
            try:
                manifest = parse_manifest(other, self.store.read(layout.blob_data(other)))
            except (FileNotFoundError, ManifestError):
                continue
            if digest in manifest.blob_references() or manifest.subject == digest:
                return f"manifest {other}, pushed since planning, references it"
        return None

    def _untagged_by_plan(self, repository: str, tag: str, link: str, digest: Digest) -> bool:
        """The plan untags this tag, which still points where it did, pushed when it was."""
        untag = self.untags.get((repository, tag))
        if untag is None or untag.digest != digest:
            return False
        stat = self.store.stat(link)
        return stat is not None and _same_push(stat, untag)

    def _delete_manifest_on_storage(self, action: Action) -> ActionResult:
        """Remove every tag index entry for the digest, then the revision, like ``vacuum.go``.

        The revision link goes last so that an interrupted delete is redone by the next run.
        """
        repository, digest = action.repository, action.digest
        revision = layout.revision_link(repository, digest)
        if self.store.stat(revision) is None:
            return ActionResult(action, Outcome.ALREADY_GONE, "revision no longer exists")
        tags = layout.tags_folder(repository)
        for tag in self.store.list_dir(tags):
            if names.is_tag_name(tag):
                self.store.delete_tree(layout.tag_index_entry(repository, tag, digest))
        self.store.delete_tree(layout.revision_folder(repository, digest))
        return ActionResult(action, Outcome.DELETED, "on storage")


def _same_push(stat: StoredFile, untag: Action) -> bool:
    """The tag's link was written by the push the plan saw (none recorded: any push is)."""
    return untag.pushed_at is None or (
        abs(stat.mtime - untag.pushed_at.timestamp()) <= _MTIME_TOLERANCE
    )
