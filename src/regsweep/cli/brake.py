"""The safety brake on the command line: stop before the first deletion, show why."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.markup import escape

from regsweep.cli.terminal import Terminal
from regsweep.core.errors import UsageError
from regsweep.core.model import Inventory
from regsweep.plan.brake import BrakeLimits, check_brake
from regsweep.plan.planner import Action


def enforce_brake(
    actions: Iterable[Action],
    inventory: Inventory,
    policy_lines: Sequence[str],
    limits: BrakeLimits,
    *,
    force: bool,
    dry_run: bool,
    terminal: Terminal,
) -> None:
    """Raise :class:`UsageError` (exit 2, nothing deleted) when the plan is over a limit.

    ``--force`` passes with a warning; a dry run only warns, since it deletes nothing.
    """
    excesses = check_brake(actions, inventory, limits)
    if not excesses:
        return
    if force or dry_run:
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
