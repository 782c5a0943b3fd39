"""``regsweep du``: storage used per repository, and what the current policy would reclaim."""

from __future__ import annotations

from typing import Any

import click
from rich.filesize import decimal
from rich.table import Table

from regsweep.cli.options import options, settings_from
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.pipeline import open_target, plan_registry
from regsweep.plan.usage import disk_usage


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
    table = Table(title="storage per repository (largest first)", title_justify="left")
    for column in ("repository", "policy", "tags", "manifests"):
        table.add_column(column)
    for column in ("total", "unique", "shared", "reclaimable"):
        table.add_column(column, justify="right")
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
    terminal.out.print(table)
    terminal.out.print(
        f"stored {decimal(usage.bytes_stored)}; the policy reclaims "
        f"{decimal(usage.bytes_reclaimable)} (each blob once); "
        f"{decimal(usage.bytes_unreferenced)} unreferenced already, waiting for garbage collection"
    )
