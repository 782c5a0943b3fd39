"""Run a plan's actions: bounded concurrency, wave by wave, every result journalled.

The run stops launching actions at the first failure: what was done, what failed and what
was not attempted are all in the report and the journal, and a second run finishes the job
(every action is idempotent).

An action that relies on other manifests being deleted too (an artifact on its subjects, a
platform on the indexes listing it: :attr:`Action.subjects`, :attr:`Action.parents`) runs
only while each of them is still going, and is skipped otherwise. A manifest is still going
when its own delete went through, or, not run yet, when nothing in the registry keeps it
now (asked of the applier) and what it relies on is still going in turn. The registry
changes between planning and applying, so a plan's "delete the signature, then the image"
cannot be trusted once the image turned out to be kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby, zip_longest
from typing import Protocol

from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.core.errors import RegsweepError, UsageError
from regsweep.core.model import Digest
from regsweep.plan.planner import Action, ActionKind
from regsweep.state.journal import Journal

log = logging.getLogger(__name__)

#: Why the manifest an untag's tag points at stays after all (None while the plan's delete of
#: it is still going). Asked only by an applier that would leave the tag to that delete.
DigestKept = Callable[[], Awaitable[str | None]]

#: Outcomes after which a manifest is gone.
_GONE = frozenset({Outcome.DELETED, Outcome.ALREADY_GONE})


class Applier(Protocol):
    async def untag(self, action: Action, digest_kept: DigestKept) -> ActionResult: ...

    async def delete_manifest(self, action: Action) -> ActionResult: ...

    async def why_kept(self, action: Action, wave: int) -> str | None:
        """Why the manifest that ``action`` deletes must stay after all, judged from the
        registry as it is now (during ``wave``); None when nothing keeps it."""
        ...


class _Fates:
    """Whether the manifests the plan deletes are still going (see the module doc)."""

    def __init__(self, actions: Sequence[Action], applier: Applier) -> None:
        self.applier = applier
        self.deletes = {
            (a.repository, a.digest): a for a in actions if a.kind is ActionKind.DELETE_MANIFEST
        }
        self.results: dict[tuple[str, Digest], ActionResult] = {}

    def record(self, result: ActionResult) -> None:
        action = result.action
        if action.kind is ActionKind.DELETE_MANIFEST:
            self.results[(action.repository, action.digest)] = result

    async def relied_on_kept(self, action: Action) -> str | None:
        """Why a manifest ``action`` relies on stays after all, in words; None if none does."""
        deleting = action.kind is ActionKind.DELETE_MANIFEST
        return await self._relied_on(action, action.wave, {action.digest} if deleting else set())

    async def kept(self, repository: str, digest: Digest, wave: int) -> str | None:
        """Why ``digest``, which the plan deletes, stays after all; None while it is going."""
        return await self._kept(repository, digest, wave, set())

    async def _relied_on(self, action: Action, wave: int, seen: set[Digest]) -> str | None:
        for what, digests in (("image", action.subjects), ("index", action.parents)):
            for digest in digests:
                why = await self._kept(action.repository, digest, wave, seen)
                if why is not None:
                    return f"its {what} {digest} is kept: {why}"
        return None

    async def _kept(
        self, repository: str, digest: Digest, wave: int, seen: set[Digest]
    ) -> str | None:
        if digest in seen:
            return None  # a cycle of artifact tags: judged where it was first met
        seen.add(digest)
        delete = self.deletes.get((repository, digest))
        if delete is None:
            return "the plan does not delete it"
        result = self.results.get((repository, digest))
        if result is not None:
            if result.outcome in _GONE:
                return None
            if result.outcome is Outcome.SKIPPED:
                return result.detail
            return f"its delete {result.outcome.value.replace('_', ' ')}: {result.detail}"
        why = await self.applier.why_kept(delete, wave)
        return why if why is not None else await self._relied_on(delete, wave, seen)


@dataclass
class ApplyReport:
    results: list[ActionResult] = field(default_factory=list)

    def count(self, outcome: Outcome, kind: ActionKind | None = None) -> int:
        return sum(
            1
            for r in self.results
            if r.outcome is outcome and (kind is None or r.action.kind is kind)
        )

    @property
    def failed(self) -> list[ActionResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def ok(self) -> bool:
        return not any(r.outcome in (Outcome.FAILED, Outcome.NOT_ATTEMPTED) for r in self.results)

    def to_json(self) -> dict[str, object]:
        return {
            "tags_deleted": self.count(Outcome.DELETED, ActionKind.UNTAG),
            "manifests_deleted": self.count(Outcome.DELETED, ActionKind.DELETE_MANIFEST),
            "already_gone": self.count(Outcome.ALREADY_GONE),
            "skipped": self.count(Outcome.SKIPPED),
            "failed": self.count(Outcome.FAILED),
            "not_attempted": self.count(Outcome.NOT_ATTEMPTED),
            "results": [r.to_json() for r in self.results if r.outcome is not Outcome.DELETED],
        }


async def apply_actions(
    actions: Sequence[Action],
    applier: Applier,
    *,
    concurrency: int,
    journal: Journal,
    on_result: Callable[[ActionResult], None] | None = None,
) -> ApplyReport:
    """Apply ``actions`` wave by wave (see :attr:`Action.wave`), at most ``concurrency`` at once.

    A :class:`UsageError` from an action (e.g. deletes disabled on the registry) aborts the
    run at once and propagates; any other failure is recorded and stops new actions.
    """
    report = ApplyReport()
    semaphore = asyncio.Semaphore(concurrency)
    stop = asyncio.Event()
    aborted = asyncio.Event()
    fates = _Fates(actions, applier)

    async def act(action: Action) -> ActionResult:
        kept = await fates.relied_on_kept(action)
        if kept is not None:
            return ActionResult(action, Outcome.SKIPPED, kept)
        if action.kind is ActionKind.DELETE_MANIFEST:
            return await applier.delete_manifest(action)
        return await applier.untag(
            action, lambda: fates.kept(action.repository, action.digest, action.wave)
        )

    def finish(result: ActionResult) -> ActionResult:
        """Record what happened to an action: the journal line, the report, the caller."""
        fates.record(result)
        action = result.action
        journal.write(
            "action",
            action=action.kind.value,
            target=action.target,
            digest=action.digest,
            outcome=result.outcome.value,
            detail=result.detail,
        )
        if result.outcome is Outcome.FAILED:
            log.error("%s %s failed: %s", action.kind.value, action.target, result.detail)
        if on_result is not None:
            on_result(result)
        return result

    async def run(action: Action) -> ActionResult:
        async with semaphore:
            if aborted.is_set():  # the caller gets the error; the journal's end record says it
                return ActionResult(action, Outcome.NOT_ATTEMPTED, "run aborted")
            if stop.is_set():
                # journalled too: the journal alone says what a second run still has to do
                stopped = ActionResult(action, Outcome.NOT_ATTEMPTED, "run stopped at a failure")
                return finish(stopped)
            # Written before acting, so a run killed mid-action still shows what it was doing.
            journal.write("attempt", action=action.kind.value, target=action.target)
            try:
                result = await act(action)
            except UsageError:
                aborted.set()
                raise
            except (RegsweepError, OSError, ValueError) as exc:
                stop.set()
                result = ActionResult(action, Outcome.FAILED, str(exc))
        return finish(result)

    ordered = sorted(actions, key=lambda a: a.wave)
    for _wave, group in groupby(ordered, key=lambda a: a.wave):
        wave = list(group)
        # started across repositories, reported in the plan's order
        started = {i: asyncio.ensure_future(run(wave[i])) for i in _across_repositories(wave)}
        report.results.extend(await asyncio.gather(*(started[i] for i in range(len(wave)))))
    return report


def _across_repositories(actions: Sequence[Action]) -> list[int]:
    """The positions of ``actions`` taken one repository at a time in turn: the first
    action of each repository, then the second of each, and so on.

    The actions at once are bounded, and over the API a repository's first action waits
    for its one re-reading (see :mod:`regsweep.apply.registry_api`): in the plan's order
    the bound would be held by the actions of one or two repositories waiting for the
    same reading, one round trip after another. Taken in turn, the actions at once span as
    many repositories, whose readings are in flight together.
    """
    by_repository: dict[str, list[int]] = {}
    for i, action in enumerate(actions):
        by_repository.setdefault(action.repository, []).append(i)
    turns = zip_longest(*by_repository.values())
    return [i for turn in turns for i in turn if i is not None]
