"""Record a run in its registry's history, for the brake of the runs after it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from regsweep.apply.outcome import Outcome
from regsweep.apply.runner import ApplyReport
from regsweep.plan.history import PastRun
from regsweep.plan.planner import ActionKind, Plan
from regsweep.state.history import record_run

#: Outcomes of an untag that leave its repository not cleaned through: the tag may still
#: be there, and must not make the next run look out of line for deleting it.
_UNFINISHED = frozenset({Outcome.FAILED, Outcome.NOT_ATTEMPTED})


def record_cleanup(
    path: Path, plan: Plan, applied: ApplyReport, *, planned_at: datetime, discovered_at: datetime
) -> None:
    """Record that ``plan`` (made at ``planned_at`` from a discovery begun at
    ``discovered_at``) was applied as ``applied`` says.

    A repository counts as cleaned when every untag planned there was carried out (or
    found done, or skipped because the tag was pushed again since): a later run is judged
    against it. A repository skipped for damage, or where an untag failed, was covered but
    not cleaned.
    """
    covered = plan.scope | {a.repository for a in plan.actions}
    unfinished = {
        r.action.repository
        for r in applied.results
        if r.action.kind is ActionKind.UNTAG and r.outcome in _UNFINISHED
    }
    skipped = {s.repository for s in plan.skipped}
    record_run(
        path,
        PastRun(
            at=planned_at,
            seen_before=discovered_at,
            tags=plan.summary.tags,
            tags_deleted=applied.count(Outcome.DELETED, ActionKind.UNTAG),
            covered=frozenset(covered | skipped),
            cleaned=frozenset(covered - skipped - unfinished),
        ),
    )
