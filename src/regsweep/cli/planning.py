"""The plan the planning commands (``plan``, ``run``, ``du``) start from, and the safety
brake's verdict on it, made the same way for each from its settings."""

from __future__ import annotations

from pathlib import Path

from regsweep.cli.settings import Settings
from regsweep.cli.terminal import Terminal
from regsweep.pipeline import Planned, open_target, plan_registry
from regsweep.plan.brake import Verdict, judge
from regsweep.state.history import default_history_path, load_history


def plan_from(
    settings: Settings, terminal: Terminal, *, reads_pulls: bool = False, only: str | None = None
) -> Planned:
    """Open the target, discover and plan with the settings' policies (``only``: just that
    repository, see :func:`regsweep.pipeline.plan_registry`); the pull store is
    read when a policy needs it or the caller does (``reads_pulls``); the images in use
    (``--in-use``, ``--in-use-command``) are read before discovery, so a failing listing
    stops the command before anything is read or changed."""
    policies = settings.policies()
    in_use = settings.in_use_spec()
    return plan_registry(
        open_target(settings.target_spec()),
        policies,
        terminal,
        pulls=settings.pull_store(needed=policies.reads_pulls or reads_pulls),
        keep_empty_repositories=settings.keep_empty_repositories,
        in_use=in_use,
        memory_limit=settings.memory_limit_bytes(),
        only=only,
    )


def brake_verdict(settings: Settings, planned: Planned, history: Path | None = None) -> Verdict:
    """The brake's verdict on a plan just made, judged against the registry's run history
    (``history``, else its default place beside the journal)."""
    return judge(
        planned.plan.actions,
        planned.inventory,
        settings.brake_limits(),
        load_history(history or default_history_path(planned.target.identity)),
        planned.policies,
        planned.now,
    )
