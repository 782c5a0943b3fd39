"""The one object that owns the screen: data on stdout, status and progress on stderr.

Keeping stdout for data alone is what makes ``--output json`` pipeable into ``jq``. With
``--log-format json`` the status, warnings and errors become JSON lines on stderr
(:mod:`regsweep.cli.logs`), and spinners and bars are left out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from regsweep.cli.logs import json_logs, terminal_log
from regsweep.cli.render_gc import render_gc_report
from regsweep.collect.native import GcReport
from regsweep.collect.registry import GcResult
from regsweep.pipeline.observer import StatusUpdate


class _StreamedArray(list[object]):
    """An iterator written as a JSON array while it is gone through, never held as a list:
    ``json.dump``'s encoder (json's Python one, which ``dump`` always uses) takes any
    list, asks only whether it is empty, and then iterates it. The test of
    :meth:`Terminal.json` compares its text with the materialised document's."""

    def __init__(self, items: Iterator[object]) -> None:
        super().__init__()
        self._items = items
        self._first = next(items, _NO_ITEM)

    def __bool__(self) -> bool:
        return self._first is not _NO_ITEM

    def __iter__(self) -> Iterator[object]:
        if self._first is not _NO_ITEM:
            yield self._first
            yield from self._items


_NO_ITEM = object()


def _streamed(value: object) -> object:
    """``json.dump``'s hook for what it cannot encode: an iterator becomes an array."""
    if isinstance(value, Iterator):
        return _StreamedArray(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Terminal:
    """The command line's :class:`~regsweep.pipeline.observer.Observer`."""

    def __init__(self, *, json_output: bool = False, quiet: bool = False) -> None:
        # no emoji codes: ``repo:tag: why`` puts a tag between colons, and a tag named 1234
        # or 100 would print as an emoji (markup=False does not stop that)
        self.out = Console(soft_wrap=False, highlight=False, emoji=False)
        self.err = Console(stderr=True, highlight=False, emoji=False)
        self.json_output = json_output
        self.quiet = quiet
        self.json_logs = json_logs()

    def info(self, message: str) -> None:
        """A status line on stderr."""
        if self.quiet:
            return
        if self.json_logs:
            terminal_log.info("%s", message)
        else:
            self.err.print(message, markup=False)

    def warn(self, message: str) -> None:
        """A warning on stderr; ``message`` may hold rich markup."""
        if self.json_logs:
            terminal_log.warning("%s", Text.from_markup(message).plain)
        else:
            self.err.print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True)

    def error(self, message: str) -> None:
        """An error on stderr; ``message`` may hold rich markup."""
        if self.json_logs:
            terminal_log.error("%s", Text.from_markup(message).plain)
        else:
            self.err.print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True)

    def ask(self, question: str) -> bool | None:
        """Ask a yes/no question at the terminal (default no); None when nobody can answer:
        input is not a terminal (cron, CI, a pipe), or the output is JSON for a program."""
        if self.json_output or not (sys.stdin.isatty() and self.err.is_terminal):
            return None
        return click.confirm(question, default=False, err=True)

    def json(self, data: object) -> None:
        """Machine output: one JSON document on stdout, nothing else there.

        Written as it is encoded: indented, the encoder makes several small strings per
        value, and ``dumps`` held them all and then the whole text (30 MiB for a dry run's
        50,000 swept blobs). An iterator in ``data`` is written as an array as it is gone
        through (:class:`_StreamedArray`)."""
        json.dump(data, sys.stdout, indent=2, sort_keys=False, default=_streamed)
        sys.stdout.write("\n")
        sys.stdout.flush()

    @contextmanager
    def status(self, message: str) -> Iterator[StatusUpdate | None]:
        """A spinner on stderr for a long step (nothing when stderr is not a terminal);
        yields the function that changes its text."""
        if self.quiet or self.json_logs or not self.err.is_terminal:
            yield None
            return
        with self.err.status(message) as spinner:
            yield lambda text: spinner.update(text)

    def collected(self, report: GcResult | GcReport) -> None:
        """What a garbage collection did, on stderr."""
        self.info(report.describe() if isinstance(report, GcResult) else render_gc_report(report))

    @contextmanager
    def progress(self, description: str, *, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar on stderr; yields the function that advances it by one."""
        if self.quiet or self.json_logs or not self.err.is_terminal or total == 0:
            yield lambda: None
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda: bar.advance(task)
