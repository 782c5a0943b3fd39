"""``regsweep gc``: regsweep's own garbage collector, safe beside a live registry."""

from __future__ import annotations

from typing import Any

import click

from regsweep.cli.options import options, settings_from
from regsweep.cli.render_gc import render_gc_report
from regsweep.cli.settings import OWN_ENV_NAMES, Group
from regsweep.cli.terminal import Terminal
from regsweep.collect.options import CollectOptions, Collector
from regsweep.core.errors import EXIT_FAILED
from regsweep.pipeline import open_storage_target
from regsweep.pipeline.collection import collect_garbage


@click.command("gc")
@options(
    Group.REGISTRY,
    Group.API,
    Group.NATIVE,
    Group.MEMORY,
    names=("dry_run", "restart", "restart_command", "docker_registry_name"),
)
@click.option("--restore", is_flag=True, help="Move every quarantined blob back, nothing else.")
def gc_command(output: str, restore: bool, **params: Any) -> None:
    """Mark every blob a manifest needs, sweep the rest, clean links, folders and uploads.

    Safe while the registry serves pushes (grace period, quarantine, re-mark); restarts
    the registry afterwards so its blob cache forgets what went.
    """
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    target = open_storage_target(settings.target_spec())
    # built before anything changes, so a missing container name fails first
    restart_argv = None if settings.dry_run or restore else settings.restart_argv()
    collection = collect_garbage(
        target,
        CollectOptions(
            Collector.NATIVE,
            restart_argv=restart_argv,
            native=settings.native_options(),
            container=settings.docker_registry_name,
            withheld_env=OWN_ENV_NAMES,
        ),
        dry_run=settings.dry_run,
        restore=restore,
        observer=terminal,
    )
    report = collection.report
    if terminal.json_output:
        terminal.json(report.to_json(lazily=True))
        if report.problems:
            terminal.warn(f"{len(report.problems)} problems, listed in the JSON report")
    else:
        terminal.out.print(render_gc_report(report), markup=False)
    if not report.complete:
        terminal.error(
            "done except the repositories listed, left as they are: repair them (or "
            "remove them) and collect again"
        )
        raise click.exceptions.Exit(EXIT_FAILED)
