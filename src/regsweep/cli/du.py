"""``regsweep du``: storage used per repository, and what the current policy would reclaim."""

from __future__ import annotations

from typing import Any

import click
from rich import box
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from regsweep.cli.options import options, settings_from
from regsweep.cli.render import column
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.pipeline import open_target, plan_registry
from regsweep.plan.usage import Usage, disk_usage


@click.command("du")
@options(Group.REGISTRY, Group.API, Group.POLICY)
def du_command(output: str, **params: Any) -> None:
    """Per repository: bytes used in total, unique to it, shared, and reclaimable by the policy."""
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    policies = settings.policies()
    planned = plan_registry(open_target(settings.target_spec()), policies, terminal)
    usage = disk_usage(planned.inventory, planned.policies, planned.plan)
    if terminal.json_output:
        terminal.json(usage.to_json())
        return
    render_usage(terminal.out, usage)


def render_usage(console: Console, usage: Usage) -> None:
    """The table of repositories, largest first, then the registry's totals."""
    # Eight columns fit 80 only without a box and its padding (23 columns of lines and
    # spaces): columns one space apart under a rule, as df prints them. Names fold; the
    # figures never break.
    figures = ("tags", "manifests", "total", "unique", "shared", "reclaimable")
    table = Table(
        column("repository"),
        column("policy"),
        *(column(name, justify="right", no_wrap=True) for name in figures),
        title="storage per repository (largest first)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=0,
    )
    for row in usage.repositories:
        table.add_row(
            row.name,
            row.policy or "(none: left alone)",
            str(row.tags),
            str(row.manifests),
            decimal(row.bytes_total),
            decimal(row.bytes_unique),
            decimal(row.bytes_shared),
            decimal(row.bytes_reclaimable),
        )
    console.print(table)
    console.print(
        f"stored {decimal(usage.bytes_stored)}; the policy reclaims "
        f"{decimal(usage.bytes_reclaimable)} (each blob once); "
        f"{decimal(usage.bytes_unreferenced)} unreferenced already, waiting for garbage collection"
    )
