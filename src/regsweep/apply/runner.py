"""Run a plan's actions: bounded concurrency, wave by wave, every result journalled.

The run stops launching actions at the first failure: what was done, what failed and what
was not attempted are all in the report and the journal, and a second run finishes the job
(every action is idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Protocol

from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.core.errors import RegsweepError, UsageError
from regsweep.plan.planner import Action, ActionKind
from regsweep.state.journal import Journal

log = logging.getLogger(__name__)


class Applier(Protocol):
    async def untag(self, action: Action) -> ActionResult: ...

    async def delete_manifest(self, action: Action) -> ActionResult: ...


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

    async def run(action: Action) -> ActionResult:
        async with semaphore:
            if stop.is_set():
                return ActionResult(action, Outcome.NOT_ATTEMPTED, "run stopped at a failure")
            # Written before acting, so a run killed mid-action still shows what it was doing.
            journal.write("attempt", action=action.kind.value, target=action.target)
            try:
                if action.kind is ActionKind.UNTAG:
                    result = await applier.untag(action)
                else:
                    result = await applier.delete_manifest(action)
            except UsageError:
                stop.set()
                raise
            except (RegsweepError, OSError, ValueError) as exc:
                stop.set()
                result = ActionResult(action, Outcome.FAILED, str(exc))
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

    ordered = sorted(actions, key=lambda a: a.wave)
    for _wave, group in groupby(ordered, key=lambda a: a.wave):
        batch = list(group)
        if stop.is_set():
            report.results.extend(
                ActionResult(a, Outcome.NOT_ATTEMPTED, "run stopped at a failure") for a in batch
            )
            continue
        report.results.extend(await asyncio.gather(*(run(a) for a in batch)))
    return report
