"""``regsweep gc``: regsweep's own garbage collector, safe beside a live registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from regsweep.cli.options import registry_options, settings_from
from regsweep.cli.run import native_collection, restart_after, restart_command
from regsweep.cli.terminal import Terminal
from regsweep.collect.native import restore_quarantine
from regsweep.sources.storage.open import open_storage


@click.command("gc")
@registry_options
@click.option(
    "--dry-run",
    is_flag=True,
    default=None,
    help="List what would go and its bytes; change nothing.",
)
@click.option(
    "--offline",
    "gc_offline",
    is_flag=True,
    default=None,
    help="The registry is stopped or read-only: no grace period, no quarantine, delete at "
    "once [GC_OFFLINE].",
)
@click.option(
    "--grace",
    "gc_grace",
    help="Never sweep blobs or layer links younger than this (default 1h) [GC_GRACE].",
)
@click.option(
    "--quarantine-delay",
    help="Delete a quarantined blob once unreferenced this long (default 24h) [QUARANTINE_DELAY].",
)
@click.option(
    "--upload-max-age",
    help="Remove uploads not written to for this long (default 7d) [UPLOAD_MAX_AGE].",
)
@click.option("--restore", is_flag=True, help="Move every quarantined blob back, nothing else.")
@click.option(
    "--restart/--no-restart",
    default=None,
    help="Restart the registry after blobs left the tree (default: restart).",
)
@click.option(
    "--restart-command", help="Restart command template with {name}; default docker restart."
)
@click.option("--docker-registry-name", help="The registry's container [DOCKER_REGISTRY_NAME].")
def gc_command(output: str, restore: bool, **params: Any) -> None:
    """Mark every blob a manifest needs, sweep the rest, clean links, folders and uploads.

    Safe while the registry serves pushes (grace period, quarantine, re-mark); restarts
    the registry afterwards so its blob cache forgets what went.
    """
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    store = open_storage(settings.storage_location, s3=settings.s3_options())
    # built before anything changes, so a missing container name fails first
    restart_argv = None if settings.dry_run or restore else restart_command(settings)
    with terminal.status("collecting garbage") as status:
        if restore:
            report = restore_quarantine(store, dry_run=settings.dry_run, now=datetime.now(UTC))
        else:
            report = native_collection(
                store, settings, progress=(lambda m: status.update(m)) if status else None
            )
    restart_after(report.needs_restart, restart_argv, terminal)
    if terminal.json_output:
        terminal.json(report.to_json())
        if report.problems:
            terminal.warn(f"{len(report.problems)} problems, listed in the JSON report")
    else:
        terminal.out.print(report.render_text(), markup=False)
