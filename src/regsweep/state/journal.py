"""The journal: one JSON line per deletion attempt, appended and flushed as it happens.

An interrupted run leaves a journal that says exactly what was done; since every action is
idempotent (already gone counts as done), the remedy is simply to run again.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any


def state_dir() -> Path:
    """regsweep's folder in the XDG state directory: the default journal, API-mode locks."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "regsweep"


def default_journal_path() -> Path:
    """Where the journal goes when ``--journal`` is not given (the XDG state directory)."""
    return state_dir() / "journal.jsonl"


class Journal:
    """Append-only JSON lines, written with owner-only permissions."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle: Any = None

    def __enter__(self) -> Journal:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._handle = os.fdopen(fd, "a", encoding="utf-8")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close; a run stopped by an error (in the GC, the verification, a kill by Ctrl-C)
        ends with an ``end`` record saying so, so the journal never just stops."""
        if self._handle is not None:
            if exc is not None:
                self.write("end", failed=True, error=str(exc) or type(exc).__name__)
            self._handle.close()
            self._handle = None

    def write(self, event: str, **fields: Any) -> None:
        """Append one record now, flushed: it survives the process being killed."""
        if self._handle is None:
            return
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
        record.update(fields)
        line = json.dumps(record, sort_keys=False) + "\n"
        with self._lock:
            self._handle.write(line)
            self._handle.flush()
