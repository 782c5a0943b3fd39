"""``regsweep plan``: show what the policy would delete and what that frees. Changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from regsweep.cli.options import policy_options, settings_from
from regsweep.cli.render import render_plan
from regsweep.cli.terminal import Terminal
from regsweep.model import Inventory
from regsweep.plan import Plan, build_plan
from regsweep.settings import Settings
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.open import open_storage
from regsweep.sources.storage.store import Store

#: Problems listed one by one; a badly broken tree must not bury the plan under warnings.
MAX_PROBLEMS_SHOWN = 20


@click.command("plan")
@policy_options
@click.option("--show-kept", is_flag=True, help="Also list every kept tag with the reason.")
def plan_command(show_kept: bool, output: str, **params: Any) -> None:
    """Discover the registry and print the cleanup plan (nothing is deleted)."""
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    _store, _inventory, plan = discover_and_plan(settings, terminal)
    if terminal.json_output:
        terminal.json(plan.to_json())
    else:
        render_plan(terminal.out, plan, show_kept=show_kept)


def discover_and_plan(settings: Settings, terminal: Terminal) -> tuple[Store, Inventory, Plan]:
    """The first two steps of every command: read the registry, apply the policy."""
    policies = settings.policies()
    store = open_storage(settings.registry_dir)
    with terminal.status("discovering") as status:
        inventory = discover_storage(
            store, progress=(lambda m: status.update(m)) if status else None
        )
    for problem in inventory.problems[:MAX_PROBLEMS_SHOWN]:
        terminal.warn(f"skipped {problem}")
    if len(inventory.problems) > MAX_PROBLEMS_SHOWN:
        terminal.warn(f"... and {len(inventory.problems) - MAX_PROBLEMS_SHOWN} more problems")
    for line in policies.describe():
        terminal.info(line)
    return store, inventory, build_plan(inventory, policies, datetime.now(UTC))
