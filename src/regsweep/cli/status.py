"""``regsweep status``: what the last runs did, from the registry's journal. Changes nothing.

For the person who finds the disk filling up and wants to know, before anything else,
whether the nightly cleanup still runs, what it deleted and what stopped it.
"""

from __future__ import annotations

from typing import Any

import click
from rich import box
from rich.filesize import decimal
from rich.markup import escape
from rich.table import Table

from regsweep.cli.options import options, settings_from
from regsweep.cli.render import abbreviate_digests, column
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.pipeline import open_target
from regsweep.pipeline.status import RegistryStatus, registry_status
from regsweep.state.runs import JournalRun


@click.command("status")
@options(Group.REGISTRY, Group.API, names=("journal",))
@click.option(
    "--last", default=10, show_default=True, type=click.IntRange(min=1), help="Runs shown."
)
def status_command(output: str, last: int, **params: Any) -> None:
    """Show what the last runs did: when, deleted, bytes freed, failures, skipped repositories.

    From the registry's journal and its run history; changes nothing.
    """
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    target = open_target(settings.target_spec())
    status = registry_status(target, journal=settings.journal, last=last)
    if terminal.json_output:
        terminal.json(status.to_json())
    else:
        render_status(terminal, status)


def render_status(terminal: Terminal, status: RegistryStatus) -> None:
    """A table of the runs, newest first, then what went wrong in the last one."""
    if not status.runs:
        terminal.out.print(
            f"no run recorded for {status.registry} in {status.journal} (dry runs and runs "
            "refused before any change are not journalled)",
            markup=False,
        )
        return
    table = Table(
        column("started (UTC)"),
        column("took", justify="right"),
        column("result"),
        column("tags", justify="right"),
        column("manifests", justify="right"),
        column("freed", justify="right"),
        column("failed", justify="right"),
        column("skipped repositories"),
        title=f"last runs of {status.registry}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for run in status.runs:
        table.add_row(
            run.started.strftime("%Y-%m-%d %H:%M:%S"),
            _took(run),
            run.result,
            str(run.count("deleted", "untag")),
            str(run.count("deleted", "delete_manifest")),
            decimal(run.bytes_freed) if run.bytes_freed is not None else "-",
            str(run.count("failed")),
            ", ".join(run.skipped_repositories) or "-",
        )
    terminal.out.print(table)
    latest = status.runs[0]
    if latest.error:
        terminal.out.print(f"last run stopped: {latest.error}", markup=False)
    for failure in latest.failures:
        terminal.out.print(f"failed: {abbreviate_digests(failure)}", markup=False)
    terminal.out.print(f"journal: {status.journal}", markup=False, soft_wrap=True)
    render_history(terminal, status)


def render_history(terminal: Terminal, status: RegistryStatus) -> None:
    """What the safety brake will judge the next run by."""
    if status.history_problem is not None:
        terminal.warn(escape(status.history_problem))
        return
    if not status.history:
        terminal.out.print("run history: none yet (the next run is the registry's first cleanup)")
        return
    table = Table(
        column("planned (UTC)"),
        column("tags then", justify="right"),
        column("deleted", justify="right"),
        column("repositories cleaned", justify="right"),
        column("not cleaned"),
        title="run history (what the safety brake judges by)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for run in status.history:
        table.add_row(
            run.at.strftime("%Y-%m-%d %H:%M:%S"),
            str(run.tags),
            str(run.tags_deleted),
            f"{len(run.cleaned)} of {len(run.covered)}",
            ", ".join(sorted(run.covered - run.cleaned)) or "-",
        )
    terminal.out.print(table)
    terminal.out.print(f"history: {status.history_file}", markup=False, soft_wrap=True)


def _took(run: JournalRun) -> str:
    if run.ended is None:
        return "-"
    seconds = (run.ended - run.started).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.0f}m"
