"""``regsweep apply PLAN``: apply a reviewed plan file, exactly, re-checking every action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from regsweep.cli.brake import enforce_brake
from regsweep.cli.metrics_file import metrics_file
from regsweep.cli.options import options, settings_from
from regsweep.cli.render import render_plan, render_run_report, render_skipped
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.core.errors import EXIT_FAILED
from regsweep.core.model import Digest, Inventory
from regsweep.pipeline import Mode, discover, execute, open_target
from regsweep.pipeline.damage import refuse_damage, refuse_uncollectable, skip_damaged
from regsweep.plan.brake import judge
from regsweep.plan.file import inventory_fingerprint, read_plan_file
from regsweep.state.history import default_history_path, load_history

#: Revisions linked less than this before the plan's discovery began are treated as pushed
#: after it and re-checked: storage timestamps come from the storage's clock, the discovery
#: time from the planner's, and re-checking one revision too many costs only a read.
CLOCK_MARGIN = timedelta(minutes=5)


@click.command("apply")
@click.argument("plan_file", type=click.Path(path_type=Path, dir_okay=False))
@options(Group.REGISTRY, Group.API, Group.APPLY, Group.MEMORY)
def apply_command(plan_file: Path, output: str, force: bool, **params: Any) -> None:
    """Apply a plan written by `regsweep plan --out`, then collect garbage and verify.

    Refused (exit 2, nothing changed) when the file was edited, has expired, or was made
    for another registry. Every action is re-checked first: a tag re-pushed or a manifest
    referenced again since planning is skipped.
    """
    # the plan file first: an edited plan is refused as such, not for a setting it would
    # have needed
    saved = read_plan_file(plan_file)
    settings = settings_from(params)
    with metrics_file(settings) as record:
        terminal = Terminal(json_output=output == "json")
        run_options = settings.run_options(command="apply", collect=settings.collect_options())
        target = open_target(settings.target_spec())
        saved.check_usable(datetime.now(UTC), target.identity)
        # the plan is decided: over the API, applying it needs no build time (a config read each)
        discovered = discover(target, terminal, ages_needed=lambda _repository, _tags: ())
        inventory = discovered.inventory
        if settings.strict:
            refuse_damage(inventory)
        plan = skip_damaged(saved.plan, inventory)
        fingerprint = inventory_fingerprint(inventory, push_times=target.mode is not Mode.API)
        if fingerprint == saved.fingerprint:
            terminal.info("the registry is as it was when the plan was made")
        else:
            terminal.info("the registry changed since the plan was made: each action is re-checked")
        for line in saved.policies:
            terminal.info(line)
        if not terminal.json_output:
            render_plan(terminal.out, plan)
        if not settings.dry_run:
            refuse_uncollectable(inventory, run_options.collect)
        history = load_history(run_options.history or default_history_path(target.identity))
        # the plan's policies are text only: the policy is not judged, the scope and clock are
        verdict = judge(
            plan.actions, inventory, settings.brake_limits(), history, None, saved.created_at
        )
        enforce_brake(
            verdict,
            saved.policies,
            registry=str(target.identity),
            force=force,
            confirm_first=settings.confirm_first_cleanup,
            dry_run=settings.dry_run,
            terminal=terminal,
        )
        report = execute(
            plan,
            target,
            run_options,
            known=_known_revisions(inventory, saved.discovered_at - CLOCK_MARGIN),
            manifests=inventory.manifests,
            planned_at=saved.created_at,
            discovered_at=saved.discovered_at,
            observer=terminal,
            discovery_requests=discovered.requests,
        )
        record(report)
        render_run_report(terminal, report)
        render_skipped(terminal, report.skipped)
        if not report.ok:
            raise click.exceptions.Exit(EXIT_FAILED)


def _known_revisions(inventory: Inventory, before: datetime) -> dict[str, frozenset[Digest]]:
    """The revisions the planner saw: those linked before its discovery began.

    Everything else may have been pushed since, so the applier reads it and skips a
    manifest delete that it references, as ``run`` does for pushes during the run.
    """
    return {
        name: frozenset(
            digest
            for digest, linked in repository.revisions.items()
            if linked is not None and linked < before
        )
        for name, repository in inventory.repositories.items()
    }
