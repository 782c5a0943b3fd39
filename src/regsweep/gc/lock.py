"""One collector per storage: a lock file beside the registry's tree.

Two collectors at once would each mark, then each sweep what the other just moved or
restored: one can quarantine or delete a blob the other restored for a manifest pushed in
between. The lock is a file created only if absent (one atomic step on a filesystem, a
conditional put on object storage), removed when the collection ends. A collector that was
killed leaves it behind: the error names the file to delete once no collector runs.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from regsweep.errors import OperationError
from regsweep.gc.quarantine import AREA, QUARANTINE
from regsweep.sources.storage.store import Store

LOCK = f"{AREA}/gc.lock"


class CollectorLockedError(OperationError):
    """Another collector holds the lock."""


@contextmanager
def collector_lock(store: Store, *, now: datetime) -> Iterator[None]:
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": now.isoformat()}
    if not store.write_new(LOCK, json.dumps(holder).encode()):
        raise CollectorLockedError(
            f"another regsweep collector is working on {store.describe()} "
            f"({_describe_holder(store)}); if none is running, delete {LOCK} in that folder"
        )
    try:
        yield
    finally:
        store.delete_files([LOCK])
        store.remove_empty_folders([QUARANTINE, AREA])  # leave no trace when nothing is held


def _describe_holder(store: Store) -> str:
    try:
        holder = json.loads(store.read(LOCK))
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
