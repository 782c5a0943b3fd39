"""``regsweep run``: discover, plan, apply, collect, verify; the seed's whole job.

Everything that can be wrong with the settings is checked before the first deletion:
the policy, the storage folder, the garbage-collection and restart commands, and (with a
registry URL) that the registry accepts deletes at all.
"""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from regsweep.cli.brake import enforce_brake
from regsweep.cli.metrics_file import metrics_file
from regsweep.cli.options import options, settings_from
from regsweep.cli.planning import brake_verdict, plan_from
from regsweep.cli.render import render_plan, render_run_report, render_skipped
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.core.errors import EXIT_FAILED
from regsweep.pipeline import run
from regsweep.pipeline.damage import refuse_damage, refuse_uncollectable, uncollectable


@click.command("run")
@options(
    Group.REGISTRY,
    Group.API,
    Group.POLICY,
    Group.PULLS,
    Group.IN_USE,
    Group.APPLY,
    Group.MEMORY,
)
def run_command(output: str, force: bool, **params: Any) -> None:
    """Delete what the policy no longer keeps, collect garbage, and verify every kept tag."""
    settings = settings_from(params)
    with metrics_file(settings) as record:
        terminal = Terminal(json_output=output == "json")
        run_options = settings.run_options(command="run", collect=settings.collect_options())
        planned = plan_from(settings, terminal)
        if settings.strict:
            refuse_damage(planned.inventory)
        if not terminal.json_output:
            render_plan(terminal.out, planned.plan)
        if not settings.dry_run:
            refuse_uncollectable(planned.inventory, run_options.collect)
        elif (blocked := uncollectable(planned.inventory, run_options.collect)) is not None:
            terminal.warn(escape(f"a real run would stop before deleting anything: {blocked}"))
        enforce_brake(
            brake_verdict(settings, planned, run_options.history),
            planned.policies.describe(),
            registry=str(planned.target.identity),
            force=force,
            confirm_first=settings.confirm_first_cleanup,
            dry_run=settings.dry_run,
            terminal=terminal,
        )
        report = run(planned, run_options, terminal)
        record(report)
        render_run_report(terminal, report)
        render_skipped(terminal, report.skipped)
        if not report.ok:
            raise click.exceptions.Exit(EXIT_FAILED)
