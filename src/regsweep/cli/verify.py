"""``regsweep verify``: does every tag still resolve, with every blob it needs?"""

from __future__ import annotations

from typing import Any

import click

from regsweep.cli.options import options, settings_from
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.core.errors import EXIT_FAILED
from regsweep.pipeline import open_target, verify_target


@click.command("verify")
@options(Group.REGISTRY, Group.API)
def verify_command(output: str, **params: Any) -> None:
    """Check every tag: manifest, config, layers and index children all present. Exit 1 if not.

    From storage when a folder is given; over the API otherwise (one request per blob).
    """
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    report = verify_target(open_target(settings.target_spec()), terminal)
    if terminal.json_output:
        terminal.json(report.to_json())
    else:
        # one line each, never folded: these lines are read by grep as often as by people
        for problem in report.problems:
            terminal.out.print(f"BROKEN {problem}", markup=False, soft_wrap=True)
        for unchecked in report.unverified:
            terminal.out.print(f"NOT VERIFIED {unchecked}", markup=False, soft_wrap=True)
        unverified = f", {len(report.unverified)} not verified" if report.unverified else ""
        terminal.out.print(
            f"{report.tags_checked} tags and {report.manifests_checked} manifests checked, "
            f"{len(report.problems)} problems{unverified}"
        )
    if not report.ok:
        raise click.exceptions.Exit(EXIT_FAILED)
