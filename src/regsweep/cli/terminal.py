"""The one object that owns the screen: data on stdout, status and progress on stderr.

Keeping stdout for data alone is what makes ``--output json`` pipeable into ``jq``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.status import Status


class Terminal:
    def __init__(self, *, json_output: bool = False, quiet: bool = False) -> None:
        self.out = Console(soft_wrap=False, highlight=False)
        self.err = Console(stderr=True, highlight=False)
        self.json_output = json_output
        self.quiet = quiet

    def info(self, message: str) -> None:
        """A status line on stderr."""
        if not self.quiet:
            self.err.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True)

    def error(self, message: str) -> None:
        self.err.print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True)

    def json(self, data: object) -> None:
        """Machine output: one JSON document on stdout, nothing else there."""
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()

    def status(self, message: str) -> AbstractContextManager[Status | None]:
        """A spinner on stderr for a long step (nothing when stderr is not a terminal)."""
        if self.quiet or not self.err.is_terminal:
            return nullcontext()
        return self.err.status(message)

    @contextmanager
    def progress(self, description: str, *, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar on stderr; yields the function that advances it by one."""
        if self.quiet or not self.err.is_terminal or total == 0:
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
