"""``regsweep plan``: show what the policy would delete and what that frees. Changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from regsweep.cli.brake import brake_excesses
from regsweep.cli.options import policy_options, settings_from
from regsweep.cli.render import render_plan
from regsweep.cli.terminal import Terminal
from regsweep.core.durations import parse_duration
from regsweep.core.errors import NotARegistryError, UsageError
from regsweep.core.model import Inventory
from regsweep.plan.file import PlanFile, RegistryIdentity, inventory_fingerprint, write_plan_file
from regsweep.plan.planner import Plan, build_plan
from regsweep.policy.rules import PolicySet
from regsweep.settings import Settings
from regsweep.sources.api.errors import MalformedAnswerError
from regsweep.sources.api.open import discover_registry
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.open import open_storage
from regsweep.sources.storage.store import Store

#: Problems listed one by one; a badly broken tree must not bury the plan under warnings.
MAX_PROBLEMS_SHOWN = 20


@click.command("plan")
@policy_options
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
    planned = discover_and_plan(settings, terminal)
    plan = planned.plan
    if terminal.json_output:
        terminal.json({**plan.to_json(), "age_source": planned.inventory.age_source})
    else:
        render_plan(terminal.out, plan, show_kept=show_kept)
    for excess in brake_excesses(plan.actions, planned.inventory, settings):
        terminal.warn(
            escape(f"safety brake: regsweep run or apply would stop on this plan: {excess}")
        )
    if out_file is not None:
        write_plan_file(
            out_file,
            PlanFile(
                created_at=planned.now,
                expires_at=planned.now + lifetime,
                discovered_at=planned.discovered_at,
                registry=registry_identity(planned.store, settings),
                policy_source=planned.policies.source,
                policies=tuple(planned.policies.describe()),
                fingerprint=inventory_fingerprint(planned.inventory),
                plan=plan,
            ),
        )
        terminal.info(f"plan written to {out_file}; apply it with: regsweep apply {out_file}")


@dataclass(frozen=True)
class Planned:
    """A plan with everything it was computed from."""

    #: the storage read and written; None in API mode (only ``--registry-url``)
    store: Store | None
    inventory: Inventory
    policies: PolicySet
    plan: Plan
    #: when discovery started, and when the plan was computed
    discovered_at: datetime
    now: datetime


def registry_identity(store: Store | None, settings: Settings) -> RegistryIdentity:
    return RegistryIdentity(store.describe() if store else None, settings.registry_url)


def open_source(settings: Settings) -> Store | None:
    """The storage to work on, or None for API mode: a URL and no storage folder.

    Storage is preferred whenever it is given: it has true push times and is read far
    faster; the API then only carries out manifest deletes.
    """
    if settings.storage_location is None and settings.registry_url is not None:
        return None
    return open_storage(settings.storage_location, s3=settings.s3_options())


def discover(
    store: Store | None,
    terminal: Terminal,
    settings: Settings,
    *,
    include: Callable[[str], bool] | None = None,
    check_blobs: bool = False,
) -> tuple[Inventory, datetime]:
    """Read the registry's inventory (storage, or the API when ``store`` is None).

    Returns it and the time discovery began. ``check_blobs`` (API mode) asks the registry
    for every config and layer, as verification needs.
    """
    started = datetime.now(UTC)
    with terminal.status("discovering") as status:
        progress = (lambda m: status.update(m)) if status else None
        if store is None:
            inventory = asyncio.run(
                _discover_api(settings, include, progress, check_blobs=check_blobs)
            )
            if not check_blobs:
                terminal.warn(
                    f"API mode: ages are {inventory.age_source}, not push times (the API has "
                    "none); tags without a usable timestamp are kept"
                )
        else:
            inventory = discover_storage(store, progress=progress)
    for problem in inventory.problems[:MAX_PROBLEMS_SHOWN]:
        terminal.warn(f"skipped {problem}")
    if len(inventory.problems) > MAX_PROBLEMS_SHOWN:
        terminal.warn(f"... and {len(inventory.problems) - MAX_PROBLEMS_SHOWN} more problems")
    return inventory, started


async def _discover_api(
    settings: Settings,
    include: Callable[[str], bool] | None,
    progress: Callable[[str], None] | None,
    *,
    check_blobs: bool,
) -> Inventory:
    """Discovery over the API; an answer that breaks the API is exit 2 before any change.

    Verification (``check_blobs``) also runs after ``run`` changed the registry, where the
    same answer is a failure part way (exit 1), so there it is left as it is.
    """
    try:
        return await discover_registry(
            settings, include=include, progress=progress, check_blobs=check_blobs
        )
    except MalformedAnswerError as exc:
        if check_blobs:
            raise
        raise NotARegistryError(
            f"{settings.registry_url} does not answer as a registry does: {exc}"
        ) from None


def discover_and_plan(settings: Settings, terminal: Terminal) -> Planned:
    """The first two steps of every command: read the registry, apply the policies.

    The policies are loaded first: a broken policy file fails before the registry is read.
    """
    policies = settings.policies()
    store = open_source(settings)
    inventory, discovered_at = discover(
        store, terminal, settings, include=lambda name: policies.policy_for(name) is not None
    )
    for line in policies.describe():
        terminal.info(line)
    now = datetime.now(UTC)
    plan = build_plan(inventory, policies, now)
    return Planned(store, inventory, policies, plan, discovered_at, now)
