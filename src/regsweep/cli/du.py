"""``regsweep du``: storage used per repository, and what the current policy would reclaim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from regsweep.cli.options import options, settings_from
from regsweep.cli.planning import plan_from
from regsweep.cli.render import column
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.core.durations import format_duration
from regsweep.plan.usage import Usage, disk_usage


@click.command("du")
@options(Group.REGISTRY, Group.API, Group.POLICY, Group.PULLS, Group.IN_USE, Group.MEMORY)
@click.option(
    "--sort",
    type=click.Choice(["size", "last-pull"]),
    default="size",
    show_default=True,
    help="Largest first, or least recently pulled first (reads the pull store).",
)
def du_command(output: str, sort: str, **params: Any) -> None:
    """Per repository: bytes used in total, unique to it, shared, and reclaimable by the policy."""
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    by_pull = sort == "last-pull"
    planned = plan_from(settings, terminal, reads_pulls=by_pull)
    usage = disk_usage(planned.inventory, planned.policies, planned.plan)
    if by_pull:
        usage = usage.by_last_pull()
    if terminal.json_output:
        terminal.json(usage.to_json())
        return
    render_usage(
        terminal.out,
        usage,
        pulls_read_at=planned.now if planned.pulls is not None else None,
        by_pull=by_pull,
    )


def render_usage(
    console: Console,
    usage: Usage,
    *,
    pulls_read_at: datetime | None = None,
    by_pull: bool = False,
) -> None:
    """The table of repositories, in the order of ``usage``, then the registry's totals.

    ``pulls_read_at``: when the pull store was read; its ``last pull`` column is shown then.
    """
    # Eight columns fit 80 only without a box and its padding (23 columns of lines and
    # spaces): columns one space apart under a rule, as df prints them. Names fold; the
    # figures never break.
    figures = ("tags", "manifests", "total", "unique", "shared", "reclaimable")
    pulled = () if pulls_read_at is None else (column("last pull", no_wrap=True),)
    order = "least recently pulled first" if by_pull else "largest first"
    table = Table(
        column("repository"),
        column("policy"),
        *(column(name, justify="right", no_wrap=True) for name in figures),
        *pulled,
        title=f"storage per repository ({order})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=0,
    )
    for row in usage.repositories:
        last = () if pulls_read_at is None else (_ago(row.last_pulled, pulls_read_at),)
        table.add_row(
            row.name,
            row.policy or "(none: left alone)",
            str(row.tags),
            str(row.manifests),
            decimal(row.bytes_total),
            decimal(row.bytes_unique),
            decimal(row.bytes_shared),
            decimal(row.bytes_reclaimable),
            *last,
        )
    console.print(table)
    console.print(
        f"stored {decimal(usage.bytes_stored)}; the policy reclaims "
        f"{decimal(usage.bytes_reclaimable)} (each blob once); "
        f"{decimal(usage.bytes_unreferenced)} unreferenced already, waiting for garbage collection"
    )


def _ago(when: datetime | None, now: datetime) -> str:
    return f"{format_duration(now - when)} ago" if when is not None else "none recorded"
