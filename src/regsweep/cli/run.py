"""``regsweep run``: discover, plan, apply, collect, verify; the seed's whole job.

Everything that can be wrong with the settings is checked before the first deletion:
the policy, the storage folder, the garbage-collection and restart commands, and (with a
registry URL) that the registry accepts deletes at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import click
from rich.filesize import decimal

from regsweep.apply.api import check_registry, registry_deleter
from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.apply.registry_api import apply_over_api
from regsweep.apply.runner import ApplyReport, apply_actions
from regsweep.apply.storage import StorageApplier
from regsweep.cli.brake import enforce_brake
from regsweep.cli.options import apply_options, policy_options, settings_from
from regsweep.cli.plan import discover, discover_and_plan
from regsweep.cli.render import render_plan
from regsweep.cli.terminal import Terminal
from regsweep.collect.native import GcReport, collect_native
from regsweep.collect.registry import (
    DEFAULT_GC_COMMAND,
    DEFAULT_RESTART_COMMAND,
    GcResult,
    build_command,
    restart_registry,
    run_registry_gc,
)
from regsweep.core.errors import EXIT_FAILED, UsageError
from regsweep.core.model import Digest, Manifest
from regsweep.plan.hidden import refuse_hidden_references
from regsweep.plan.planner import Plan
from regsweep.settings import Settings
from regsweep.sources.storage.discovery import list_blob_sizes
from regsweep.sources.storage.store import Store
from regsweep.state.journal import Journal, default_journal_path
from regsweep.state.lock import registry_lock
from regsweep.verify import VerifyReport, verify_inventory

#: The registry's own GC takes seconds on disk but hours on object storage (#2812).
GC_TIMEOUT_SECONDS = 6 * 3600
RESTART_TIMEOUT_SECONDS = 300


@click.command("run")
@policy_options
@apply_options
def run_command(output: str, force: bool, **params: Any) -> None:
    """Delete what the policy no longer keeps, collect garbage, and verify every kept tag."""
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    started = time.monotonic()
    commands = collect_commands(settings)
    planned = discover_and_plan(settings, terminal)
    refuse_hidden_references(planned.inventory)
    if not terminal.json_output:
        render_plan(terminal.out, planned.plan)
    enforce_brake(
        planned.plan.actions,
        planned.inventory,
        planned.policies.describe(),
        settings,
        force,
        terminal,
    )
    known = {name: frozenset(r.revisions) for name, r in planned.inventory.repositories.items()}
    execute_plan(
        planned.plan,
        planned.store,
        known,
        settings,
        commands,
        terminal,
        started,
        manifests=planned.inventory.manifests,
    )


def execute_plan(
    plan: Plan,
    store: Store | None,
    known: Mapping[str, frozenset[Digest]],
    settings: Settings,
    commands: tuple[list[str] | None, list[str] | None],
    terminal: Terminal,
    started: float,
    *,
    manifests: Mapping[Digest, Manifest],
) -> None:
    """Apply, collect, verify and report (the part ``run`` shares with ``apply``).

    ``known`` are the revisions the plan was computed from: any other revision found while
    applying was pushed since and is checked for references to what is deleted.
    ``store`` None is API mode: everything goes through the registry's API.
    Exits 1 when a step failed, or (nothing changed) when another regsweep holds the
    registry's lock; a dry run only runs the GC's own dry run.
    """
    gc_argv, restart_argv = commands
    result: dict[str, Any] = {"plan": plan.summary.to_json(), "dry_run": settings.dry_run}
    collector = _collector(gc_argv, restart_argv, store, settings, terminal)
    if settings.dry_run:
        if collector is not None:
            result["gc"] = collector().to_json()
        terminal.info("dry run: nothing was changed")
        _finish(terminal, result, started)
        return
    # before the lock and the journal: a bad URL, login or disabled deletes leave no trace
    asyncio.run(check_registry(settings, plan, api_mode=store is None))
    failed = False
    journal_path = settings.journal or default_journal_path()
    with (
        # one regsweep at a time changes a registry (see regsweep.state.lock)
        registry_lock(
            store,
            settings.registry_url,
            now=datetime.now(UTC),
            command=click.get_current_context().info_name or "run",
        ),
        Journal(journal_path) as journal,
    ):
        journal.write("start", plan=plan.summary.to_json())
        report = asyncio.run(_apply(plan, store, known, manifests, settings, journal, terminal))
        result["apply"] = report.to_json()
        failed = not report.ok
        if not failed and collector is not None:
            before = _storage_bytes(store)
            gc = collector()
            after = _storage_bytes(store)
            result["gc"] = gc.to_json()
            result["restarted"] = restart_argv is not None and gc.needs_restart
            if before is not None and after is not None:
                result["storage_bytes_before"] = before
                result["storage_bytes_after"] = after
            # the native report lists every swept blob: the journal keeps only the figures
            logged = gc.to_json() if isinstance(gc, GcResult) else {"native": True}
            journal.write("gc", **logged, bytes_before=before, bytes_after=after)
        verified = _verify(store, settings, terminal)
        result["verify"] = verified.to_json()
        failed = failed or not verified.ok
        journal.write("end", failed=failed)
    terminal.info(f"journal: {journal_path}")
    _finish(terminal, result, started)
    if failed:
        raise click.exceptions.Exit(EXIT_FAILED)


def collect_commands(settings: Settings) -> tuple[list[str] | None, list[str] | None]:
    """Build the GC and restart commands now, so a missing name fails before any delete.

    In API mode (no storage folder) garbage collection runs only when a container name or a
    command was given: many registries reached over the API (zot, Harbor, GHCR) collect
    garbage themselves, and the others need to be told how. ``--gc native`` runs
    regsweep's own collector on the storage: no GC command, but the same restart.
    """
    if settings.gc == "none":
        return None, None
    api_only = settings.storage_location is None and settings.registry_url is not None
    if settings.gc == "native":
        if api_only:
            raise UsageError(
                "--gc native collects on the registry's storage: give --registry-dir or "
                "--storage, or use --gc registry or --gc none"
            )
        return None, restart_command(settings)
    if api_only and not (settings.docker_registry_name or settings.gc_command):
        return None, None
    gc_argv = build_command(
        settings.gc_command,
        DEFAULT_GC_COMMAND,
        name=settings.docker_registry_name,
        config=settings.docker_registry_config,
        purpose="collect garbage",
    )
    return gc_argv, restart_command(settings)


def restart_command(settings: Settings) -> list[str] | None:
    """The restart command after a GC that freed blobs, or None when turned off."""
    if not settings.restart:
        return None
    return build_command(
        settings.restart_command,
        DEFAULT_RESTART_COMMAND,
        name=settings.docker_registry_name,
        config=settings.docker_registry_config,
        purpose="restart the registry",
    )


async def _apply(
    plan: Plan,
    store: Store | None,
    known: Mapping[str, frozenset[Digest]],
    manifests: Mapping[Digest, Manifest],
    settings: Settings,
    journal: Journal,
    terminal: Terminal,
) -> ApplyReport:
    """Apply through storage (manifest deletes through the API when a URL is known), or
    entirely through the API in API mode."""
    with terminal.progress("deleting", total=len(plan.actions)) as advance:

        def on_result(result: ActionResult) -> None:
            advance()
            if result.outcome is Outcome.SKIPPED:
                terminal.warn(f"skipped {result.action.target}: {result.detail}")

        if store is None:
            return await apply_over_api(
                settings, plan, manifests, journal=journal, on_result=on_result
            )
        async with registry_deleter(settings) as deleter:
            return await apply_actions(
                plan.actions,
                StorageApplier(store, known, deleter),
                concurrency=settings.concurrency,
                journal=journal,
                on_result=on_result,
            )


def _collector(
    gc_argv: Sequence[str] | None,
    restart_argv: Sequence[str] | None,
    store: Store | None,
    settings: Settings,
    terminal: Terminal,
) -> Callable[[], GcResult | GcReport] | None:
    """The collection to run after applying (or its dry run), restart included: the
    registry's when it has a command, regsweep's own on the storage for ``--gc native``,
    or none."""
    if gc_argv is not None:
        return partial(_collect, gc_argv, restart_argv, terminal, dry_run=settings.dry_run)
    if settings.gc == "native" and store is not None:
        return partial(_collect_native, store, settings, restart_argv, terminal)
    return None


def _collect(
    gc_argv: Sequence[str], restart_argv: Sequence[str] | None, terminal: Terminal, *, dry_run: bool
) -> GcResult:
    with terminal.status("collecting garbage"):
        gc = run_registry_gc(gc_argv, dry_run=dry_run, timeout=GC_TIMEOUT_SECONDS)
    verb = "would delete" if dry_run else "deleted"
    terminal.info(
        f"garbage-collect: {gc.blobs_marked} blobs marked, {verb} {gc.blobs_deleted} blobs"
    )
    restart_after(gc.needs_restart, restart_argv, terminal)
    return gc


def _collect_native(
    store: Store, settings: Settings, restart_argv: Sequence[str] | None, terminal: Terminal
) -> GcReport:
    """regsweep's own collector (safe during pushes), then the restart it calls for."""
    with terminal.status("collecting garbage (native)") as status:
        report = native_collection(
            store, settings, progress=(lambda m: status.update(m)) if status else None
        )
    terminal.info(report.render_text())
    restart_after(report.needs_restart, restart_argv, terminal)
    return report


def native_collection(
    store: Store, settings: Settings, *, progress: Callable[[str], None] | None
) -> GcReport:
    """regsweep's collector with the run's settings (grace, quarantine, uploads, offline)."""
    return collect_native(
        store,
        dry_run=settings.dry_run,
        offline=settings.gc_offline,
        grace=settings.gc_grace,
        quarantine_delay=settings.quarantine_delay,
        upload_max_age=settings.upload_max_age,
        now=datetime.now(UTC),
        progress=progress,
    )


def restart_after(needs_restart: bool, argv: Sequence[str] | None, terminal: Terminal) -> None:
    """Restart the registry when a collection took blobs away (its cache would serve them)."""
    if not needs_restart:
        return
    if argv is None:
        terminal.warn(
            "the registry was not restarted: restart it now, or its blob cache may "
            "serve the blobs just collected to pushes"
        )
        return
    restart_registry(argv, timeout=RESTART_TIMEOUT_SECONDS)
    terminal.info("registry restarted, so its blob cache forgets the blobs just collected")


def _storage_bytes(store: Store | None) -> int | None:
    return sum(list_blob_sizes(store).values()) if store is not None else None


def _verify(store: Store | None, settings: Settings, terminal: Terminal) -> VerifyReport:
    inventory, _ = discover(store, terminal, settings, check_blobs=True)
    report = verify_inventory(inventory)
    if report.ok:
        terminal.info(f"verified: all {report.tags_checked} tags resolve with every blob present")
    for problem in report.problems:
        terminal.error(f"broken: {problem}")
    return report


def _finish(terminal: Terminal, result: dict[str, Any], started: float) -> None:
    result["seconds"] = round(time.monotonic() - started, 3)
    if terminal.json_output:
        terminal.json(result)
        return
    apply = result.get("apply", {})
    parts = []
    if apply:
        parts.append(
            f"deleted {apply['tags_deleted']} tags and {apply['manifests_deleted']} manifests"
        )
        for key in ("skipped", "already_gone", "failed", "not_attempted"):
            if apply[key]:
                parts.append(f"{apply[key]} {key.replace('_', ' ')}")
    if "storage_bytes_before" in result:
        freed = result["storage_bytes_before"] - result["storage_bytes_after"]
        parts.append(
            f"storage {decimal(result['storage_bytes_before'])} -> "
            f"{decimal(result['storage_bytes_after'])} (freed {decimal(freed)})"
        )
    parts.append(f"{result['seconds']:.1f}s")
    terminal.out.print("; ".join(parts))
