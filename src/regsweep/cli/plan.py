"""``regsweep plan``: show what the policy would delete and what that frees. Changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from regsweep.cli.options import options, settings_from
from regsweep.cli.planning import brake_verdict, plan_from
from regsweep.cli.render import render_plan
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.core.durations import parse_duration
from regsweep.core.errors import UsageError
from regsweep.plan.file import write_plan_file


@click.command("plan")
@options(
    Group.REGISTRY,
    Group.API,
    Group.POLICY,
    Group.PULLS,
    Group.IN_USE,
    Group.MEMORY,
    names=("keep_empty_repositories",),
)
@click.option("--show-kept", is_flag=True, help="Also list every kept tag with the reason.")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the plan to this file, for review and for regsweep apply.",
)
@click.option(
    "--expires-in",
    default="24h",
    show_default=True,
    help="How long the plan file may be applied: 12h, 3d...",
)
def plan_command(
    show_kept: bool, out_file: Path | None, expires_in: str, output: str, **params: Any
) -> None:
    """Discover the registry and print the cleanup plan (nothing is deleted)."""
    settings = settings_from(params)
    try:
        lifetime = parse_duration(expires_in)
    except ValueError as exc:
        raise UsageError(f"--expires-in: {exc}") from None
    terminal = Terminal(json_output=output == "json")
    planned = plan_from(settings, terminal)
    plan = planned.plan
    if terminal.json_output:
        document = {**plan.to_json(), "age_source": planned.inventory.age_source}
        if planned.pulls is not None:
            document["pulls"] = planned.pulls.to_json()
        if planned.requests is not None:
            document["requests"] = {"discovery": planned.requests.to_json()}
        terminal.json(document)
    else:
        render_plan(terminal.out, plan, show_kept=show_kept)
    verdict = brake_verdict(settings, planned)
    stop = "ask to confirm this first cleanup" if verdict.confirmable else "stop on this plan"
    for finding in verdict.findings():
        terminal.warn(escape(f"safety brake: regsweep run or apply would {stop}: {finding}"))
    if out_file is not None:
        write_plan_file(out_file, planned.plan_file(lifetime))
        terminal.info(f"plan written to {out_file}; apply it with: regsweep apply {out_file}")
