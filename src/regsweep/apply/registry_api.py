"""Carry out a plan through the registry API alone (no storage access).

Every deletion is re-checked first, because the registry keeps serving pushes between
planning and applying, and each re-check is made once (the budget is stated in
:mod:`regsweep.sources.api.budget`):

- a tag removed on its own (by name, or through a throw-away manifest because its manifest
  stays) is re-resolved with a HEAD right before (see :class:`Untagger`);
- a repository that loses a manifest is listed and every tag in it resolved once per run,
  when the first of its deletions is judged. That one reading answers every question about
  the repository, in every wave: whether a manifest the plan deletes is tagged now, or
  referenced by a manifest tagged since planning (a new index, a signature), in which case
  its delete is skipped and reported; whether a manifest an artifact or a platform relies
  on is still going (asked by the runner); and where an expired tag that leaves with its
  manifest's DELETE points now (distribution 2.x deletes a tag only with its manifest).

One reading per repository rather than one per wave keeps the requests proportional to the
deletions, not to the tags times the waves, and makes every judgement about a repository
agree: an expired tag left to its manifest's delete is left only if that same reading lets
the manifest go. What changes in the registry after the reading and before a DELETE is
not seen, as nothing read before a DELETE can see what happens between the two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.apply.runner import ApplyReport, DigestKept, apply_actions
from regsweep.apply.untag import Untagger, UntagMethod
from regsweep.core.manifests import ManifestError, parse_manifest
from regsweep.core.model import Digest, Manifest
from regsweep.plan.planner import Action, Plan
from regsweep.sources.api.access import RegistryAccess
from regsweep.sources.api.open import open_registry
from regsweep.sources.requests import RequestCounts
from regsweep.state.journal import Journal

if TYPE_CHECKING:
    from regsweep.sources.api.client import RegistryClient


class ApiApplier:
    """The :class:`~regsweep.apply.runner.Applier` for registries reached only over HTTP.

    ``manifests`` are the inventory's parsed manifests: a tag found pointing at one of
    them needs no new request to know what it references.
    """

    def __init__(
        self,
        client: RegistryClient,
        untagger: Untagger,
        plan: Plan,
        manifests: Mapping[Digest, Manifest],
    ) -> None:
        self.client = client
        self.untagger = untagger
        self.manifests = manifests
        self.doomed = {(a.repository, a.digest) for a in plan.manifest_deletes}
        #: tags the plan removes: they may still point at a doomed manifest
        self.untagging = {(a.repository, a.tag): a.digest for a in plan.untags}
        #: each repository's tags as read once in this run (see the module docstring)
        self._tags: dict[str, asyncio.Task[dict[str, Digest]]] = {}
        self._fetched: dict[tuple[str, Digest], asyncio.Task[Manifest | str | None]] = {}

    async def untag(self, action: Action, digest_kept: DigestKept) -> ActionResult:
        """Untag; a tag on a manifest the plan deletes may leave with that manifest.

        Only on a registry that cannot delete a tag by name, and only while that manifest
        is still going: one kept after all (tagged again since planning, say) would keep
        the expired tag with it, reported as deleted; that tag is removed on its own.
        """
        assert action.tag is not None
        repository = action.repository
        leaves_with_manifest = (
            (repository, action.digest) in self.doomed
            and not await self.untagger.deletes_by_name(repository)
            and await digest_kept() is None
        )
        if leaves_with_manifest:
            return await self._left_to_its_manifest(action)
        done = await self.untagger.untag(repository, action.tag, action.digest)
        return ActionResult(action, done.outcome, done.detail)

    async def _left_to_its_manifest(self, action: Action) -> ActionResult:
        """The tag's re-check is the repository's reading; its manifest's DELETE removes it
        (distribution deletes every tag on a deleted digest)."""
        assert action.tag is not None
        now = (await self._read_tags(action.repository)).get(action.tag)
        if now is None:
            return ActionResult(action, Outcome.ALREADY_GONE, "tag no longer exists")
        if now != action.digest:
            return ActionResult(action, Outcome.SKIPPED, f"re-pushed since planning: now {now}")
        return ActionResult(
            action, Outcome.DELETED, "goes with its manifest, which the plan deletes"
        )

    async def delete_manifest(self, action: Action) -> ActionResult:
        reason = await self.why_kept(action, action.wave)
        if reason is not None:
            return ActionResult(action, Outcome.SKIPPED, reason)
        if not await self.client.delete_manifest(action.repository, action.digest):
            return ActionResult(action, Outcome.ALREADY_GONE, "registry: manifest unknown")
        return ActionResult(action, Outcome.DELETED, "via registry API")

    async def why_kept(self, action: Action, wave: int) -> str | None:
        """Why the manifest must stay after all, judged from the repository's tags as read
        once in this run, whichever wave asks (see the module docstring)."""
        repository, digest = action.repository, action.digest
        tags = await self._read_tags(repository)
        for tag, target in sorted(tags.items()):
            if target == digest:
                if self.untagging.get((repository, tag)) == digest:
                    continue  # an expired tag that goes with this manifest
                return f"tag {tag} points to it now"
            if (repository, target) in self.doomed:
                continue  # listing this one, it is one of the parents the runner checks
            manifest = await self._manifest(repository, target)
            if isinstance(manifest, str):
                return f"tag {tag} points to {target}, which {manifest}: it may reference it"
            if manifest is None:
                continue  # the tag went away meanwhile
            if digest in manifest.blob_references() or manifest.subject == digest:
                return f"manifest {target}, tagged {tag} now, references it"
        return None

    async def _read_tags(self, repository: str) -> dict[str, Digest]:
        if repository not in self._tags:
            self._tags[repository] = asyncio.create_task(self._resolve_tags(repository))
        return await self._tags[repository]

    async def _resolve_tags(self, repository: str) -> dict[str, Digest]:
        names = await self.client.list_tags(repository)
        heads = await asyncio.gather(*(self.client.head_manifest(repository, n) for n in names))
        return {n: h.digest for n, h in zip(names, heads, strict=True) if h is not None}

    async def _manifest(self, repository: str, digest: Digest) -> Manifest | str | None:
        """The manifest, None when gone, or why it cannot be read (then nothing is deleted)."""
        known = self.manifests.get(digest)
        if known is not None:
            return known
        key = (repository, digest)
        if key not in self._fetched:
            self._fetched[key] = asyncio.create_task(self._fetch(repository, digest))
        return await self._fetched[key]

    async def _fetch(self, repository: str, digest: Digest) -> Manifest | str | None:
        fetched = await self.client.get_manifest(repository, digest)
        if fetched is None:
            return None
        try:
            return parse_manifest(digest, fetched.raw)
        except ManifestError as exc:
            return f"cannot be parsed ({exc})"


async def apply_over_api(
    access: RegistryAccess,
    plan: Plan,
    manifests: Mapping[Digest, Manifest],
    *,
    untag_method: UntagMethod,
    concurrency: int,
    journal: Journal,
    on_result: Callable[[ActionResult], None] | None = None,
    counts: RequestCounts | None = None,
) -> ApplyReport:
    """Apply ``plan`` through the registry API: the ``run`` command's apply step in API mode.

    The caller has run :func:`regsweep.apply.api.check_registry` before the first change,
    so a bad login or a registry with deletes disabled stopped the run (exit 2) before any
    tag was touched; the throw-away untag method relies on that.
    """
    async with open_registry(access, counts) as client:
        untagger = Untagger(client, untag_method)
        applier = ApiApplier(client, untagger, plan, manifests)
        return await apply_actions(
            plan.actions,
            applier,
            concurrency=concurrency,
            journal=journal,
            on_result=on_result,
        )
