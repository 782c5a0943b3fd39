"""The cleanup ``regsweep listen --schedule`` starts: ``regsweep run`` in a process of its own.

A process per run, not a call in the listener's own: a year of nightly runs must not grow
the listener's memory or leave it holding what one run left behind, and a run that fails
(or is killed) ends with its own exit code, journal and metrics file, exactly as the same
run from cron would, while the listener goes on recording events. The run takes its
settings from the listener's environment (``REGISTRY_DIR``, ``MAX_AGE_SECONDS``...); its
lines are the listener's lines, in the listener's log format.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from regsweep.cli.logs import json_logs
from regsweep.cli.terminal import Terminal


class ScheduledCleanup:
    """Runs ``regsweep run --metrics-file METRICS``; :meth:`interrupt` stops a run under way."""

    def __init__(self, metrics_file: Path, terminal: Terminal) -> None:
        self.metrics_file = metrics_file
        self.terminal = terminal
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def argv(self) -> list[str]:
        """``regsweep run`` in this Python, in the listener's log format."""
        log_format = "json" if json_logs() else "text"
        run = ["run", "--metrics-file", str(self.metrics_file)]
        return [sys.executable, "-m", "regsweep", "--log-format", log_format, *run]

    def run(self) -> None:
        """One run to its end; its report lines go to the log as they come."""
        self.metrics_file.parent.mkdir(parents=True, exist_ok=True)
        self.terminal.info("scheduled cleanup: starting regsweep run")
        with self._lock:
            process = self._process = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
            )
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                self.terminal.info(line.rstrip())
        code = process.wait()
        with self._lock:
            self._process = None
        if code == 0:
            self.terminal.info("scheduled cleanup: done (exit 0)")
        else:
            self.terminal.error(
                f"scheduled cleanup: regsweep run ended with exit {code}; see its lines above "
                "and regsweep status"
            )

    def interrupt(self) -> None:
        """Ask a run under way to stop as Ctrl-C would: it journals that it was stopped."""
        with self._lock:
            if self._process is not None:
                self._process.send_signal(signal.SIGINT)
