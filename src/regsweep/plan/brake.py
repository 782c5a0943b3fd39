"""The safety brake: a plan out of line with the registry or its history is not applied.

A mistyped keep regex, a policy scoped to the wrong repositories or a clock set years ahead
all look the same from here: almost every tag is suddenly "expired". GitLab users lost
every image of their registries to exactly such a cleanup policy. So before the first
deletion, the share of tags a plan deletes is compared with limits (by default half of the
registry's tags), and the plan with the registry's past runs (:mod:`regsweep.plan.history`).

A registry's first cleanup is the one run whose plan rightly deletes most of it: years of
feature branches. Over the limits, it goes ahead once confirmed (:attr:`Verdict.confirmable`),
and the brake stays on for every run after it: those are judged by the history it starts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from regsweep.core.model import Inventory
from regsweep.plan.history import History, OutOfLine, check_history
from regsweep.plan.planner import Action, ActionKind
from regsweep.policy.rules import PolicySet

REGISTRY = "the registry"


@dataclass(frozen=True, slots=True)
class BrakeLimits:
    """Percentages of tags a run may delete: in the whole registry, in any one repository."""

    registry_percent: float
    repository_percent: float | None = None


@dataclass(frozen=True, slots=True)
class Excess:
    """One limit a plan goes over."""

    scope: str  # REGISTRY or a repository name
    deleting: int
    total: int
    limit_percent: float

    @property
    def percent(self) -> float:
        return 100.0 * self.deleting / self.total

    def __str__(self) -> str:
        where = REGISTRY if self.scope == REGISTRY else f"repository {self.scope}"
        return (
            f"{where}: would delete {self.deleting} of {self.total} tags "
            f"({self.percent:.0f}%, limit {self.limit_percent:g}%)"
        )


def check_brake(
    actions: Iterable[Action], inventory: Inventory, limits: BrakeLimits
) -> list[Excess]:
    """Every limit the untags in ``actions`` exceed in ``inventory`` (the registry as it is).

    Only untags of tags that exist in ``inventory`` count: a saved plan applied a second
    time deletes nothing, and must not look like it deletes everything. Untagged manifests
    do not count: they are only deleted when nothing kept needs them.
    """
    deleting = Counter(
        a.repository
        for a in actions
        if a.kind is ActionKind.UNTAG
        and a.repository in inventory.repositories
        and a.tag in inventory.repositories[a.repository].tags
    )
    excesses = []
    total = inventory.tag_count
    if total and 100.0 * deleting.total() / total > limits.registry_percent:
        excesses.append(Excess(REGISTRY, deleting.total(), total, limits.registry_percent))
    if limits.repository_percent is not None:
        for name in sorted(deleting):
            count = len(inventory.repositories[name].tags)
            if 100.0 * deleting[name] / count > limits.repository_percent:
                excesses.append(Excess(name, deleting[name], count, limits.repository_percent))
    return excesses


@dataclass(frozen=True)
class Verdict:
    """What the brake says of a plan: the limits it goes over, how it is out of line with
    the registry's history, and whether it would be the registry's first cleanup."""

    excesses: Sequence[Excess]
    out_of_line: Sequence[OutOfLine]
    first_cleanup: bool

    @property
    def stops(self) -> bool:
        """The run stops here, unless confirmed (a first cleanup) or forced."""
        return bool(self.excesses or self.out_of_line)

    @property
    def confirmable(self) -> bool:
        """A first cleanup over the limits: one explicit confirmation lets it through.
        (Nothing is out of line before a first cleanup: there is no history yet.)"""
        return self.first_cleanup and not self.out_of_line

    def findings(self) -> list[str]:
        """Every finding, in words."""
        return [*map(str, self.excesses), *map(str, self.out_of_line)]


def judge(
    actions: Sequence[Action],
    inventory: Inventory,
    limits: BrakeLimits,
    history: History,
    policies: PolicySet | None,
    now: datetime,
) -> Verdict:
    """The brake's verdict on ``actions``, planned at ``now`` by ``policies`` (None for a
    plan file, whose policies are only text) on ``inventory`` (the registry as it is)."""
    return Verdict(
        check_brake(actions, inventory, limits),
        check_history(actions, inventory, history, policies, now),
        history.first_cleanup,
    )
