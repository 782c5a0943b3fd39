"""Plan: discover the registry and apply the policies to it. Changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from regsweep.core.bounded import MemoryBudget
from regsweep.core.model import Digest, Inventory
from regsweep.pipeline.discovery import discover
from regsweep.pipeline.in_use import InUseSpec, read_in_use
from regsweep.pipeline.observer import LoggingObserver, Observer
from regsweep.pipeline.phases import Phase, PhaseTimer
from regsweep.pipeline.pulls import PullsRead, read_pulls
from regsweep.pipeline.target import Mode, Target
from regsweep.plan.file import PlanFile, inventory_fingerprint
from regsweep.plan.planner import Plan, build_plan
from regsweep.policy.rules import PolicySet
from regsweep.sources.requests import RequestCounts
from regsweep.state.spill import memory_budget


@dataclass(frozen=True)
class Planned:
    """A plan with everything it was computed from."""

    target: Target
    inventory: Inventory
    policies: PolicySet
    plan: Plan
    #: when discovery started, and when the plan was computed
    discovered_at: datetime
    now: datetime
    #: the pull store the plan read; None when none was
    pulls: PullsRead | None = None
    #: seconds spent discovering and planning
    phases: Mapping[Phase, float] = field(default_factory=dict)
    #: the requests discovery sent to the registry's API (None: it read storage)
    requests: RequestCounts | None = None
    #: where the registry-wide sets and sizes live (``du`` counts with it too)
    budget: MemoryBudget = field(default_factory=MemoryBudget)

    def plan_file(self, lifetime: timedelta) -> PlanFile:
        """The plan as a file for review and ``regsweep apply``, usable for ``lifetime``."""
        return PlanFile(
            created_at=self.now,
            expires_at=self.now + lifetime,
            discovered_at=self.discovered_at,
            registry=self.target.identity,
            policy_source=self.policies.source,
            policies=tuple(self.policies.describe()),
            fingerprint=inventory_fingerprint(
                self.inventory, push_times=self.target.mode is not Mode.API
            ),
            plan=self.plan,
        )


def plan_registry(
    target: Target,
    policies: PolicySet,
    observer: Observer | None = None,
    *,
    pulls: Path | None = None,
    keep_empty_repositories: bool = False,
    in_use: InUseSpec | None = None,
    memory_limit: int | None = None,
    only: str | None = None,
) -> Planned:
    """The first two steps of every command: read the registry, apply the policies.

    Only the repositories some policy covers are read over the API (storage is read whole:
    one listing serves every repository), and only the build times their rules need.
    ``pulls``: the pull store whose pulls (and, in API mode, pushes) the tags carry into
    the plan. ``in_use`` names the images workloads run: they are read after discovery,
    as close to the deletions as planning allows, and every policy keeps them.
    Repositories the plan leaves empty are removed on storage unless
    ``keep_empty_repositories``; the API cannot remove them, and the plan says so.
    ``memory_limit``: the bytes the run may use; the manifests discovery parses go to
    disk past a share of it (:mod:`regsweep.core.bounded`). None: no limit.
    ``only``: read and plan just this repository, whatever the policies' scope, with every
    tag's build time (``explain`` shows each): the same steps as a run, so what it explains
    is what a run would do, a damaged repository's skip included.
    """
    observer = observer or LoggingObserver()
    budget = memory_budget(memory_limit)
    timer = PhaseTimer()

    def ages_needed(repository: str, tags: Mapping[str, Digest]) -> frozenset[str]:
        policy = policies.policy_for(repository)
        if policy is None:
            return frozenset(tags)
        return policy.ages_needed(repository, tags, datetime.now(UTC))

    def include(name: str) -> bool:
        return policies.policy_for(name) is not None if only is None else name == only

    with timer.phase(Phase.DISCOVER):
        discovered = discover(
            target,
            observer,
            include=include,
            ages_needed=ages_needed if only is None else None,
            budget=budget,
        )
    with timer.phase(Phase.PLAN):
        inventory = discovered.inventory
        read = None
        if pulls is not None:
            inventory, read = read_pulls(
                inventory, pulls, observer, age_by_push=target.mode is Mode.API
            )
        if in_use is not None:
            policies = policies.protecting(read_in_use(in_use, inventory, observer))
        for line in policies.describe():
            observer.info(line)
        now = datetime.now(UTC)
        remove = not keep_empty_repositories and target.store is not None
        plan = build_plan(inventory, policies, now, remove_empty=remove)
        if plan.left_empty and not keep_empty_repositories:
            observer.warn(
                f"{len(plan.left_empty)} repositories are left empty (e.g. {plan.left_empty[0]}); "
                "the registry API has no way to remove a repository, so they stay in _catalog: "
                "run with --registry-dir (or --storage) to remove them"
            )
    return Planned(
        target,
        inventory,
        policies,
        plan,
        discovered.started,
        now,
        read,
        timer.seconds,
        discovered.requests,
        budget,
    )
