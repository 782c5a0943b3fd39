"""What happened to one action."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from regsweep.plan.planner import Action


class Outcome(StrEnum):
    """What happened to an action: the one vocabulary of reports, journal and exit code."""

    DELETED = "deleted"
    #: already done by an earlier (interrupted) run or by someone else: counts as done
    ALREADY_GONE = "already_gone"
    #: the registry changed since planning (tag re-pushed, manifest referenced again)
    SKIPPED = "skipped"
    FAILED = "failed"
    #: not started because the run stopped at an earlier failure
    NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True, slots=True)
class ActionResult:
    """An action, what happened to it, and why in words."""

    action: Action
    outcome: Outcome
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {**self.action.to_json(), "outcome": self.outcome.value, "detail": self.detail}
