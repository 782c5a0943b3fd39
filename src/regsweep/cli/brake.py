"""The safety brake on the command line: stop before the first deletion, show why, and let
a registry's first cleanup through once it is confirmed."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape

from regsweep.cli.terminal import Terminal
from regsweep.core.errors import UsageError
from regsweep.plan.brake import Verdict


def enforce_brake(
    verdict: Verdict,
    policy_lines: Sequence[str],
    *,
    registry: str,
    force: bool,
    confirm_first: bool,
    dry_run: bool,
    terminal: Terminal,
) -> None:
    """Raise :class:`UsageError` (exit 2, nothing deleted) when the brake stops the plan.

    A first cleanup over the limits passes once confirmed: ``--confirm-first-cleanup``, or
    a yes at the terminal. ``--force`` passes anything, with a warning; a dry run only
    warns, since it deletes nothing.
    """
    if not verdict.stops:
        if confirm_first and not verdict.first_cleanup:
            terminal.info(
                f"--confirm-first-cleanup changes nothing: {registry} was cleaned before, "
                "and the brake judges this run by its history"
            )
        return
    findings = verdict.findings()
    if force or dry_run:
        if force:
            verdict_text = "overridden by --force"
        elif verdict.confirmable:
            verdict_text = "a real run would ask to confirm this first cleanup"
        else:
            verdict_text = "a real run would stop here"
        for finding in findings:
            terminal.warn(escape(f"safety brake ({verdict_text}): {finding}"))
        return
    if verdict.confirmable and confirm_first:
        terminal.info(f"first cleanup of {registry}, confirmed: {findings[0]}")
        return
    what = "first cleanup" if verdict.confirmable else "plan out of line"
    terminal.info(f"safety brake, {what}:")
    for line in [*findings, *policy_lines]:
        terminal.info(f"  {line}")
    if verdict.confirmable:
        answer = terminal.ask(
            f"This is the first cleanup of {registry}: {findings[0]}. Delete them?"
        )
        if answer:
            return
        raise UsageError(
            f"safety brake: this is the first cleanup of {registry}, and {findings[0]}; "
            "nothing was deleted. Check the plan (regsweep plan); if it is right, "
            + (
                "answer yes"
                if answer is not None
                else "pass --confirm-first-cleanup once (the brake stays on for later runs)"
            )
        )
    raise UsageError(
        f"safety brake: {findings[0]}; nothing was deleted. Check the policy and the clock; if "
        "the plan is right, pass --force for this run (or raise --max-delete / "
        "--max-delete-per-repository)"
    )
