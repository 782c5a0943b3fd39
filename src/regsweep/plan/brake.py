"""The safety brake: a plan that deletes too large a share of the tags is not applied.

A mistyped keep regex, a policy scoped to the wrong repositories or a clock set years ahead
all look the same from here: almost every tag is suddenly "expired". GitLab users lost
every image of their registries to exactly such a cleanup policy. So before the first
deletion, the share of tags a plan deletes is compared with limits (by default half of the
registry's tags), and a plan over a limit stops the run unless the user forces it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from regsweep.core.model import Inventory
from regsweep.plan.planner import Action, ActionKind

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
