"""Plans and reports as human tables (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from regsweep.apply.outcome import Outcome
from regsweep.cli.terminal import Terminal
from regsweep.pipeline.report import RunReport
from regsweep.plan.planner import Action, ActionKind, Plan


def short(digest: str) -> str:
    return digest[:19]


def render_plan(console: Console, plan: Plan, *, show_kept: bool = False) -> None:
    """One table per repository that changes (or every one with ``show_kept``), then totals."""
    merged: dict[str, list[Action]] = {}
    for action in plan.actions:
        merged.setdefault(action.repository, []).append(action)
    kept: dict[str, list[tuple[str, str, str]]] = {}
    for decision in plan.decisions:
        if decision.keep and show_kept:
            tag = decision.tag
            kept.setdefault(tag.repository, []).append((tag.name, tag.digest, decision.reason))
    for repository in sorted(set(merged) | set(kept)):
        table = Table(title=repository, title_justify="left", expand=False)
        table.add_column("action")
        table.add_column("tag")
        table.add_column("digest")
        table.add_column("reason", overflow="fold")
        for action in merged.get(repository, []):
            label = "untag" if action.kind is ActionKind.UNTAG else "delete manifest"
            table.add_row(label, action.tag or "", short(action.digest), action.reason)
        for name, digest, reason in kept.get(repository, []):
            table.add_row("[green]keep[/green]", name, short(digest), reason)
        console.print(table)
    render_summary(console, plan)


def render_summary(console: Console, plan: Plan) -> None:
    s = plan.summary
    console.print(
        f"{s.repositories} repositories, {s.tags} tags, {s.manifests} manifests: "
        f"delete {s.tags_to_delete} tags and {s.manifests_to_delete} manifests, "
        f"freeing {decimal(s.bytes_reclaimable)} in {s.blobs_reclaimable} blobs"
    )
    if s.bytes_already_unreferenced:
        console.print(
            f"{decimal(s.bytes_already_unreferenced)} is unreferenced already and "
            "waits for garbage collection"
        )
    if plan.problems:
        console.print(f"{len(plan.problems)} problems found and skipped (see warnings)")


def render_run_report(terminal: Terminal, report: RunReport) -> None:
    """The run's last word: the JSON report, or one line of what was deleted and freed."""
    if terminal.json_output:
        terminal.json(report.to_json())
        return
    parts = []
    if report.apply is not None:
        applied = report.apply
        parts.append(
            f"deleted {applied.count(Outcome.DELETED, ActionKind.UNTAG)} tags and "
            f"{applied.count(Outcome.DELETED, ActionKind.DELETE_MANIFEST)} manifests"
        )
        for outcome in _NOTED_OUTCOMES:
            if count := applied.count(outcome):
                parts.append(f"{count} {outcome.value.replace('_', ' ')}")
    if report.storage is not None:
        storage = report.storage
        parts.append(
            f"storage {decimal(storage.before)} -> {decimal(storage.after)} "
            f"(freed {decimal(storage.freed)})"
        )
    parts.append(f"{round(report.seconds, 3):.1f}s")
    terminal.out.print("; ".join(parts))


#: Outcomes the summary line counts, in this order.
_NOTED_OUTCOMES = (Outcome.SKIPPED, Outcome.ALREADY_GONE, Outcome.FAILED, Outcome.NOT_ATTEMPTED)
