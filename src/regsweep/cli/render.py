"""Plans and reports as human tables (rich), readable in a terminal, a pipe or a cron log.

Text is read by people in 80 columns as often as in a wide terminal: a full sha256 digest
is 71 characters, so text shows digests the way docker shows image IDs, 12 hex digits
(:func:`abbreviate_digests`). JSON output keeps every digest whole: it is for machines,
and the planner's reasons carry full digests for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC

from rich.console import Console, JustifyMethod
from rich.filesize import decimal
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from regsweep.apply.outcome import Outcome
from regsweep.cli.terminal import Terminal
from regsweep.pipeline.report import RunReport, StorageBytes
from regsweep.plan.planner import Action, ActionKind, Plan, SkippedRepository

#: A whole sha256 digest; the first group is what text output shows of it.
_FULL_DIGEST = re.compile(r"\b(sha256:[0-9a-f]{12})[0-9a-f]{52}(?![0-9a-f])")


def abbreviate_digests(text: str) -> str:
    """``text`` with every ``sha256:<64 hex>`` cut to ``sha256:<12 hex>``, for text output.

    Only ``sha256:`` digests are cut: cosign tags (``sha256-<hex>.sig``) are names, and a
    name shown shortened would name another tag.
    """
    return _FULL_DIGEST.sub(r"\1", text)


def column(header: str, *, justify: JustifyMethod = "left", no_wrap: bool = False) -> Column:
    """A table column whose header is never cut to ``reposi…``: it is at least as wide as
    its header. Long values fold onto more lines, except ``no_wrap`` ones (digests, sizes),
    which keep their width and make the others fold instead."""
    return Column(header, justify=justify, no_wrap=no_wrap, overflow="fold", min_width=len(header))


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
        table = Table(
            column("action", no_wrap=True),
            column("tag"),
            column("digest", no_wrap=True),
            column("reason"),
            title=repository,
            title_justify="left",
        )
        # Text cells: a reason quotes the user's regexes, whose [a-z] rich would take for markup
        for action in merged.get(repository, []):
            label = "untag" if action.kind is ActionKind.UNTAG else "delete manifest"
            table.add_row(
                label,
                action.tag or "",
                abbreviate_digests(action.digest),
                Text(abbreviate_digests(action.reason)),
            )
        for name, digest, reason in kept.get(repository, []):
            table.add_row(
                Text("keep", style="green"),
                name,
                abbreviate_digests(digest),
                Text(abbreviate_digests(reason)),
            )
        console.print(table)
    if plan.skipped:
        table = Table(
            column("repository"),
            column("left untouched because"),
            title="skipped: damaged repositories (nothing in them is deleted)",
            title_justify="left",
        )
        for skipped in plan.skipped:
            table.add_row(skipped.repository, Text(abbreviate_digests(skipped.reason)))
        console.print(table)
    if plan.empty:
        names = ", ".join(e.repository for e in plan.empty)
        console.print(
            f"empty repositories removed once done (--keep-empty-repositories keeps them): {names}"
        )
    render_summary(console, plan)


def render_summary(console: Console, plan: Plan) -> None:
    """The plan's totals in one line: what it deletes and what that frees."""
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
    if s.repositories_skipped:
        console.print(
            f"{s.repositories_skipped} repositories skipped because of damage; every other "
            "one is cleaned (--strict refuses the whole registry instead)"
        )


def render_skipped(terminal: Terminal, skipped: Sequence[SkippedRepository]) -> None:
    """The run's verdict on what it left: done except the repositories listed (exit 1)."""
    if skipped:
        listed = "; ".join(f"{s.repository} ({s.reason})" for s in skipped)
        terminal.error(escape(f"done except the repositories listed, left untouched: {listed}"))


def render_run_report(terminal: Terminal, report: RunReport) -> None:
    """The run's last word: the JSON report, or one line of what was deleted and freed."""
    if terminal.json_output:
        terminal.json(report.to_json(lazily=True))
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
    if report.empty.removed:
        parts.append(f"removed {len(report.empty.removed)} empty repositories")
    if report.storage is not None:
        parts.append(_storage_line(report.storage))
    parts.append(f"{round(report.seconds, 3):.1f}s")
    terminal.out.print("; ".join(parts))


def _storage_line(storage: StorageBytes) -> str:
    """The content store before and after, and the bytes freed; blobs that regsweep's live
    collector quarantined are on the disk still, and are said to be."""
    moved = f"{decimal(storage.before)} -> {decimal(storage.after)}"
    if storage.purge_after is None:
        return f"storage {moved} (freed {decimal(storage.freed)})"
    until = storage.purge_after.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"registry blobs {moved} (freed {decimal(storage.freed)}; quarantined "
        f"{decimal(storage.quarantined)}, freed on the first collection after {until})"
    )


#: Outcomes the summary line counts, in this order.
_NOTED_OUTCOMES = (Outcome.SKIPPED, Outcome.ALREADY_GONE, Outcome.FAILED, Outcome.NOT_ATTEMPTED)
