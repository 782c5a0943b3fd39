"""Whether regsweep may change a registry's storage, asked once it holds the lock and
before anything is deleted: a file is created and removed beside the lock."""

from __future__ import annotations

import os
import socket

from regsweep.state.lock import AREA, NOT_WRITABLE_FIX, LockStore, NotWritableError


def check_writable(store: LockStore) -> None:
    """Create and remove a file in regsweep's area of ``store``; :class:`NotWritableError`
    if either fails.

    Creating the lock proves a file can be created; a storage that refuses deletes (a
    bucket policy with PutObject and without DeleteObject) would otherwise be found out
    by the first deletion. Asked with the lock held, not before: the area may hold
    another regsweep's lock, and a probe beside it would change the storage of a run
    that is then refused as locked. The area is beside the registry's tree, so the
    registry never sees the probe.
    """
    probe = f"{AREA}/write-probe-{socket.gethostname()}-{os.getpid()}"
    try:
        store.write_new(probe, b"")
        store.delete_files([probe])
    except OSError as exc:
        raise NotWritableError(
            f"cannot write to the registry's storage {store.describe()}: {exc}; {NOT_WRITABLE_FIX}"
        ) from None
