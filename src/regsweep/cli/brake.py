"""The safety brake on the command line: stop before the first deletion, show why."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.markup import escape

from regsweep.cli.terminal import Terminal
from regsweep.core.errors import UsageError
from regsweep.core.model import Inventory
from regsweep.plan.brake import BrakeLimits, Excess, check_brake
from regsweep.plan.planner import Action
from regsweep.settings import Settings


def brake_excesses(
    actions: Iterable[Action], inventory: Inventory, settings: Settings
) -> list[Excess]:
    """The limits of ``settings`` that the untags in ``actions`` go over in ``inventory``."""
    limits = BrakeLimits(settings.max_delete, settings.max_delete_per_repository)
    return check_brake(actions, inventory, limits)


def enforce_brake(
    actions: Iterable[Action],
    inventory: Inventory,
    policy_lines: Sequence[str],
    settings: Settings,
    force: bool,
    terminal: Terminal,
) -> None:
    """Raise :class:`UsageError` (exit 2, nothing deleted) when the plan is over a limit.

    ``--force`` passes with a warning; a dry run only warns, since it deletes nothing.
    """
    excesses = brake_excesses(actions, inventory, settings)
    if not excesses:
        return
    if force or settings.dry_run:
        verdict = "overridden by --force" if force else "a real run would stop here"
        for excess in excesses:
            terminal.warn(escape(f"safety brake ({verdict}): {excess}"))
        return
    terminal.error("safety brake: this plan deletes more tags than the limits allow")
    for line in [*map(str, excesses), *policy_lines]:
        terminal.error(escape(f"  {line}"))
    raise UsageError(
        f"safety brake: {excesses[0]}; nothing was deleted. Check the policy; if the plan is "
        "right, pass --force or raise --max-delete / --max-delete-per-repository"
    )
