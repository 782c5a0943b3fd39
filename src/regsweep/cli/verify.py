"""``regsweep verify``: does every tag still resolve, with every blob it needs?"""

from __future__ import annotations

from typing import Any

import click

from regsweep.cli.options import registry_options, settings_from
from regsweep.cli.plan import discover, open_source
from regsweep.cli.terminal import Terminal
from regsweep.core.errors import EXIT_FAILED
from regsweep.verify import verify_inventory


@click.command("verify")
@registry_options
def verify_command(output: str, **params: Any) -> None:
    """Check every tag: manifest, config, layers and index children all present. Exit 1 if not.

    From storage when a folder is given; over the API otherwise (one request per blob).
    """
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    inventory, _ = discover(open_source(settings), terminal, settings, check_blobs=True)
    report = verify_inventory(inventory)
    if terminal.json_output:
        terminal.json(report.to_json())
    else:
        for problem in report.problems:
            terminal.out.print(f"BROKEN {problem}", markup=False)
        terminal.out.print(
            f"{report.tags_checked} tags and {report.manifests_checked} manifests checked, "
            f"{len(report.problems)} problems"
        )
    if not report.ok:
        raise click.exceptions.Exit(EXIT_FAILED)
