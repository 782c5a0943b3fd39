"""``regsweep pulls import FILE...``: learn past pulls from the registry's access logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from regsweep.cli.options import options, settings_from
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.pipeline.pulls import import_logs


@click.group("pulls")
def pulls_group() -> None:
    """The pull store: import the registry's access logs."""


@pulls_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@options(Group.PULLS)
def import_command(files: tuple[Path, ...], **params: Any) -> None:
    """Record the pulls, pushes and deletes of access logs (text, JSON, combined-log,
    docker logs output, .gz) in the pull store; importing a log again changes nothing."""
    settings = settings_from(params)
    import_logs(files, settings.pull_store_path(), Terminal())
