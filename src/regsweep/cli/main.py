"""Entry point: parse, dispatch, and map every error to its exit code in one place."""

from __future__ import annotations

import logging
import sys

import click
import stamina

from regsweep import __version__
from regsweep.cli.apply import apply_command
from regsweep.cli.du import du_command
from regsweep.cli.explain import explain_command
from regsweep.cli.gc import gc_command
from regsweep.cli.plan import plan_command
from regsweep.cli.run import run_command
from regsweep.cli.verify import verify_command
from regsweep.core.errors import EXIT_FAILED, EXIT_USAGE, RegsweepError
from regsweep.sources.api.retry import log_retry


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="regsweep")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Keep a self-hosted Docker/OCI registry from filling its disk, safely."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    stamina.instrumentation.set_on_retry_hooks([log_retry])


cli.add_command(plan_command)
cli.add_command(run_command)
cli.add_command(verify_command)
cli.add_command(explain_command)
cli.add_command(apply_command)
cli.add_command(du_command)
cli.add_command(gc_command)


def main() -> None:
    """Run the CLI: exit 0 done, 1 failed part way, 2 bad usage or configuration."""
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except RegsweepError as exc:
        click.echo(f"regsweep: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else 0)
