"""The journal: one JSON line per deletion attempt, appended and flushed as it happens.

An interrupted run leaves a journal that says exactly what was done; since every action is
idempotent (already gone counts as done), the remedy is simply to run again.

One host often cleans several registries (from one cron job, one CI runner). Their runs
interleaved in one file would make "what was done to this registry" a filtering job, and a
record without its registry says nothing once copied out of its file: so the default
journal is one file per registry, and every record names the registry it is about.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from regsweep.plan.file import RegistryIdentity

#: Where the default journals go, below the state folder.
JOURNALS = "journals"
#: How much of the registry's location the file name keeps (its end, where a long path
#: says which registry it is), to stay readable and short.
MAX_SLUG = 48


def state_dir() -> Path:
    """regsweep's folder in the XDG state directory: the default journals, API-mode locks."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "regsweep"


def default_journal_path(registry: RegistryIdentity) -> Path:
    """Where a registry's journal goes when ``--journal`` is not given: a file of its own in
    the state folder, ``journals/<location>-<hash>.jsonl``.

    The registry is its storage when there is one (the URL only reaches it, and a run with
    and a run without ``--registry-url`` clean the same registry), else its URL. The name
    keeps the location readable (``var-lib-registry``, ``http-127.0.0.1-5000``) in letters,
    digits, dots and dashes only, so no location can make a path of it; the hash of the
    whole location tells apart locations whose readable parts are alike (``/a/b``, ``/a-b``).
    """
    location = registry.storage or str(registry.url)
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", location)[-MAX_SLUG:].strip(".-")
    digest = hashlib.sha256(location.encode()).hexdigest()[:12]
    name = f"{slug}-{digest}" if slug else digest
    return state_dir() / JOURNALS / f"{name}.jsonl"


class Journal:
    """Append-only JSON lines, written with owner-only permissions, each naming ``registry``."""

    def __init__(self, path: Path | None, registry: RegistryIdentity) -> None:
        self.path = path
        self.registry = registry
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
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "registry": self.registry.to_json(),
        }
        record.update(fields)
        line = json.dumps(record, sort_keys=False) + "\n"
        with self._lock:
            self._handle.write(line)
            self._handle.flush()
