"""``regsweep verify``: does every tag still resolve, with every blob it needs?"""

from __future__ import annotations

from pathlib import Path

import click

from regsweep.cli.terminal import Terminal
from regsweep.errors import EXIT_FAILED
from regsweep.settings import load_settings
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.open import open_storage
from regsweep.verify import verify_inventory


@click.command("verify")
@click.option(
    "--registry-dir", type=click.Path(path_type=Path), help="Registry data folder [REGISTRY_DIR]."
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def verify_command(registry_dir: Path | None, output: str) -> None:
    """Check every tag: manifest, config, layers and index children all present. Exit 1 if not."""
    settings = load_settings({"registry_dir": registry_dir})
    terminal = Terminal(json_output=output == "json")
    store = open_storage(settings.registry_dir)
    with terminal.status("verifying"):
        report = verify_inventory(discover_storage(store))
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
