"""One collector per storage: a lock file beside the registry's tree.

Two collectors at once would each mark, then each sweep what the other just moved or
restored: one can quarantine or delete a blob the other restored for a manifest pushed in
between. The lock is a file created only if absent (one atomic step on a filesystem, a
conditional put on object storage), removed when the collection ends. A collector that was
killed leaves it behind: the error names the file to delete once no collector runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from regsweep.errors import OperationError
from regsweep.gc.quarantine import AREA, QUARANTINE
from regsweep.sources.storage.store import Store

LOCK = f"{AREA}/gc.lock"

log = logging.getLogger(__name__)


class CollectorLockedError(OperationError):
    """Another collector holds the lock."""


@contextmanager
def collector_lock(store: Store, *, now: datetime) -> Iterator[None]:
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": now.isoformat()}
    try:
        created = store.write_new(LOCK, json.dumps(holder).encode())
    except OSError as exc:
        raise OperationError(f"cannot create {LOCK} in {store.describe()}: {exc}") from exc
    if not created:
        raise CollectorLockedError(
            f"another regsweep collector is working on {store.describe()} "
            f"({_describe_holder(store)}); if none is running, delete {LOCK} in that folder"
        )
    try:
        yield
    finally:
        try:
            store.delete_files([LOCK])
            store.remove_empty_folders([QUARANTINE, AREA])  # no trace when nothing is held
        except OSError as exc:  # never hide the error that ended the collection
            log.warning("could not remove %s from %s: %s", LOCK, store.describe(), exc)


def _describe_holder(store: Store) -> str:
    try:
        holder = json.loads(store.read(LOCK))
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
