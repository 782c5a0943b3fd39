"""One regsweep at a time per registry: a lock file beside the registry's tree.

Two regsweeps changing the same storage at once interleave their deletions: two collectors
each mark, then each sweep what the other just moved or restored (one can quarantine or
delete a blob the other restored for a manifest pushed in between), and a collector running
while ``run`` deletes manifests marks a tree that changes under it. So ``run``, ``apply``
and ``gc`` hold the same lock while they change anything; the second one refuses (exit 1,
nothing changed) and names who holds it. Dry runs change nothing and take no lock.

The lock is a file created only if absent (one atomic step on a filesystem, a conditional
put on object storage), removed when the work ends. A regsweep that was killed leaves it
behind: when the holder ran on this machine, in this pid namespace, and its pid is gone,
the next regsweep takes the lock over (a run killed part way is finished by running again,
see :mod:`regsweep.state.journal`); a lock from another machine is taken over once its lease
ran out (:mod:`regsweep.state.lease`: several hosts may share a bucket); otherwise the error
names the file to delete once no regsweep runs.

API mode has no storage to put the lock in, and the registry API has no lock primitive:
the lock is then a file in regsweep's state folder (``$XDG_STATE_HOME/regsweep``) named
after the registry URL. It keeps out a second run on the same machine and account; runs
from two machines on one registry are not kept apart (each of their actions re-checks the
registry first, so neither deletes what the other's policy keeps).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Protocol

from regsweep.core.errors import OperationError, UsageError
from regsweep.sources.storage.local import LocalStore
from regsweep.sources.storage.store import ConditionalWriteStore, DeletingStore, ReadableStore
from regsweep.state.journal import state_dir
from regsweep.state.lease import Renewal, expired, lease_until

#: regsweep's own area beside the registry's tree (``docker/``): the lock and the quarantine.
AREA = "regsweep"
LOCK = f"{AREA}/lock"
#: Where the API-mode locks go, below the state folder.
API_LOCKS = "locks"

log = logging.getLogger(__name__)

#: Locks this process holds: a run that collects garbage natively takes the lock once.
_held: set[tuple[str, str]] = set()


class LockStore(ConditionalWriteStore, DeletingStore, Protocol):
    """What holding a lock in a store takes: create it only if absent and take over a
    stale one atomically (two regsweeps racing for it must not both win), read who holds
    it, and remove it and its folder when the work ends."""


class StorageLockedError(OperationError):
    """Another regsweep holds the lock: nothing was changed."""


class NotWritableError(UsageError):
    """regsweep may read the storage but not write to it (a read-only mount, a tree owned
    by another user, a bucket policy): found out before anything was changed."""


#: What gets past a :class:`NotWritableError`.
NOT_WRITABLE_FIX = "run regsweep as a user who may change it, or --dry-run to see the plan only"


def registry_lock(
    store: LockStore | None, url: str | None, *, now: datetime, command: str
) -> AbstractContextManager[None]:
    """The lock for the registry a command changes: in its storage, else (API mode) in the
    state folder, keyed by the URL."""
    if store is not None:
        return storage_lock(store, now=now, command=command)
    if url is None:
        raise ValueError("a registry lock needs a storage or a URL")
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = hashlib.sha256(url.encode()).hexdigest()[:32]
    return storage_lock(
        LocalStore(folder),
        now=now,
        command=command,
        path=f"{API_LOCKS}/{key}.lock",
        where=url,
    )


@contextmanager
def storage_lock(
    store: LockStore,
    *,
    now: datetime,
    command: str,
    path: str = LOCK,
    where: str | None = None,
    tidy: Sequence[str] = (),
) -> Iterator[None]:
    """Hold ``path`` in ``store`` while the block runs; :class:`StorageLockedError` if taken.

    Re-entrant within a process. On release, the folders in ``tidy`` and then the lock's
    own folder are removed when empty, so a store with nothing held keeps no trace.
    """
    key = (store.describe(), path)
    if key in _held:
        yield
        return
    where = where or store.describe()
    fields = {**_me(), "command": command, "since": now.isoformat()}
    holder = json.dumps({**fields, **lease_until(time.time())}).encode()
    try:
        created = store.write_new(path, holder) or _take_over_stale(store, path, holder)
    except OSError as exc:
        raise NotWritableError(
            f"cannot create the lock {path} in {store.describe()}: {exc}; {NOT_WRITABLE_FIX}"
        ) from exc
    if not created:
        raise StorageLockedError(
            f"another regsweep is working on {where} ({_describe_holder(store, path)}); "
            f"nothing was changed; if none is running, delete {path} in {store.describe()}"
        )
    _held.add(key)
    renewal = Renewal(store, path, holder)
    renewal.start()
    try:
        yield
    finally:
        lost = renewal.stop()
        _held.discard(key)
        try:
            if not lost:  # a lock taken over is the new holder's to remove
                store.delete_files([path])
            store.remove_empty_folders([*tidy, path.rpartition("/")[0]])
        except OSError as exc:  # never hide the error that ended the work
            log.warning("could not remove %s from %s: %s", path, store.describe(), exc)
    if lost:
        raise OperationError(
            f"the lock {path} in {store.describe()} was taken over while this regsweep "
            "worked (it stalled past its lease): another regsweep may have changed the "
            "registry at the same time; run again to check the result"
        )


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "pidns": _pid_namespace()}


def _pid_namespace() -> str | None:
    """The pid namespace (a container has its own): a pid means something only inside it."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _take_over_stale(store: LockStore, path: str, holder: bytes) -> bool:
    """Take the lock of a regsweep that died on this machine; False when it is not stale.

    Only one taker at a time (a ``.takeover`` file beside the lock), and the stale lock is
    deleted only after reading it again inside that section: a lock is otherwise deleted
    only by its live holder, so what was read stale is still the same stale lock then.
    """
    found = _read_holder(store, path)
    if found is None and store.stat(path) is None:  # released meanwhile
        return store.write_new(path, holder)
    if not _is_stale(found):
        return False
    guard = f"{path}.takeover"
    if not store.write_new(guard, holder):
        return False
    try:
        try:
            raw = store.read(path)
        except FileNotFoundError:  # released meanwhile
            return store.write_new(path, holder)
        content = _parse_holder(raw)
        if not _is_stale(content):
            return False
        log.warning("taking over the lock of a regsweep that is gone: %s", content)
        # a compare-and-swap: a holder renewing its lease at this moment keeps it
        return store.replace(path, raw, holder)
    finally:
        store.delete_files([guard])


def _read_holder(store: ReadableStore, path: str) -> dict[str, Any] | None:
    try:
        return _parse_holder(store.read(path))
    except OSError:
        return None


def _parse_holder(raw: bytes) -> dict[str, Any] | None:
    try:
        holder = json.loads(raw)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _is_stale(holder: dict[str, Any] | None) -> bool:
    """The holder ran here (same host and pid namespace) and its process is gone, or it
    ran elsewhere and its lease ran out.

    A lock that cannot be read, or was written elsewhere without a lease, is never stale:
    its holder may be alive on another machine or in another container.
    """
    if holder is None or not isinstance(holder.get("pid"), int):
        return False
    me = _me()
    if me["pidns"] is None or (holder.get("host"), holder.get("pidns")) != (
        me["host"],
        me["pidns"],
    ):
        return expired(holder, time.time())
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _describe_holder(store: ReadableStore, path: str) -> str:
    holder = _read_holder(store, path) or {}
    if not {"pid", "host", "since"} <= holder.keys():
        return "holder unknown"
    what = f"regsweep {holder['command']}, " if "command" in holder else ""
    lease = f", lease until {holder['expires']}" if "expires" in holder else ""
    return f"{what}pid {holder['pid']} on {holder['host']} since {holder['since']}{lease}"
