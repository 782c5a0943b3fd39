"""Entry point: parse, dispatch, and map every error to its exit code in one place.

Commands are imported when they run, not when the program starts: ``regsweep --help`` or a
mistyped command should not pay for the HTTP client, pydantic and the storage drivers.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, NoReturn

import click

from regsweep import __version__
from regsweep.cli.logs import LogFormat, configure_logging, json_logs, terminal_log
from regsweep.core.errors import EXIT_FAILED, EXIT_USAGE, RegsweepError

if TYPE_CHECKING:
    from stamina.instrumentation import RetryHook

#: Each command: the module and function that define it, and its one-line help (shown by
#: ``regsweep --help`` without importing the command; a test keeps the two the same).
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": (
        "regsweep.cli.plan:plan_command",
        "Discover the registry and print the cleanup plan (nothing is deleted).",
    ),
    "run": (
        "regsweep.cli.run:run_command",
        "Delete what the policy no longer keeps, collect garbage, and verify every kept tag.",
    ),
    "verify": (
        "regsweep.cli.verify:verify_command",
        "Check every tag: manifest, config, layers and index children all present.",
    ),
    "explain": (
        "regsweep.cli.explain:explain_command",
        "Explain the decision for a repository, a tag (REPO:TAG) or a manifest (REPO@DIGEST).",
    ),
    "apply": (
        "regsweep.cli.apply:apply_command",
        "Apply a plan written by `regsweep plan --out`, then collect garbage and verify.",
    ),
    "du": (
        "regsweep.cli.du:du_command",
        "Per repository: bytes used in total, unique to it, shared, and reclaimable by the policy.",
    ),
    "gc": (
        "regsweep.cli.gc:gc_command",
        "Mark every blob a manifest needs, sweep the rest, clean links, folders and uploads.",
    ),
    "listen": (
        "regsweep.cli.listen:listen_command",
        "Record the registry's notifications (pulls, pushes, deletes) in the pull store.",
    ),
    "pulls": (
        "regsweep.cli.pulls:pulls_group",
        "The pull store: import the registry's access logs.",
    ),
    "status": (
        "regsweep.cli.status:status_command",
        "Show what the last runs did: when, deleted, bytes freed, failures, skipped repositories.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (see :data:`COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, name = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="regsweep")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice([f.value for f in LogFormat]),
    default=LogFormat.TEXT.value,
    show_default=True,
    help="stderr as lines for people, or one JSON object a line for log collectors "
    "(every command; give it before the command).",
)
def cli(verbose: int, log_format: str) -> None:
    """Keep a self-hosted Docker/OCI registry from filling its disk, safely."""
    configure_logging(LogFormat(log_format), verbose)
    # every retry of a request to the registry is logged (imported here: it loads stamina);
    # the hook is made at the first retry, since it loads httpx (4 MiB of memory) and a
    # command on storage sends no request
    import stamina

    stamina.instrumentation.set_on_retry_hooks(
        [stamina.instrumentation.RetryHookFactory(_retry_hook)]
    )


def _retry_hook() -> RetryHook:
    from regsweep.sources.api.retry import log_retry

    return log_retry


def main() -> None:
    """Run the CLI: exit 0 done, 1 failed part way, 2 bad usage or configuration."""
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fatal("aborted", EXIT_FAILED)
    except click.ClickException as exc:
        if json_logs():
            _fatal(exc.format_message(), EXIT_USAGE)
        exc.show()
        sys.exit(EXIT_USAGE)
    except RegsweepError as exc:
        _fatal(f"regsweep: error: {exc}", exc.exit_code)
    except KeyboardInterrupt:
        _fatal("interrupted", EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else 0)


def _fatal(message: str, code: int) -> NoReturn:
    """The one line that ends a failed command, in the log format chosen, and its exit."""
    if json_logs():
        terminal_log.error("%s", message.removeprefix("regsweep: error: "))
    else:
        click.echo(message, err=True)
    sys.exit(code)
