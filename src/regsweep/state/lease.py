"""The lease of a registry lock: an expiry written into it, renewed while it is held.

Several hosts may run regsweep against one bucket (cron on two machines, a CI job beside
an operator), and a regsweep killed on one of them leaves its lock behind, which no other
host can tell from a lock held by a live process: its pid means nothing elsewhere. So the
holder writes when its lock expires, and renews it every :data:`RENEW_EVERY` while it
works; a lock from another host whose expiry passed (by more than :data:`CLOCK_SKEW`, for
hosts whose clocks disagree) is stale and may be taken over.

Renewing is a compare-and-swap (``ConditionalWriteStore.replace``, ``If-Match`` on object
storage): a holder that stalled past its expiry, and whose lock was taken over meanwhile,
finds out at its next renewal instead of overwriting the new holder's lock. It then stops
renewing, leaves the lock alone, and its command fails (exit 1) once the work ends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from regsweep.sources.storage.store import ConditionalWriteStore

#: How long a lock outlives its holder's last renewal.
LEASE = timedelta(minutes=10)
#: A holder renews this often: three renewals may fail (a slow store) before it expires.
RENEW_EVERY = LEASE / 4
#: How far the clocks of two hosts sharing a store may disagree.
CLOCK_SKEW = timedelta(minutes=2)

log = logging.getLogger(__name__)


def lease_until(wall: float) -> dict[str, str]:
    """The field a holder writes at wall-clock time ``wall`` (epoch seconds)."""
    expires = datetime.fromtimestamp(wall, UTC) + LEASE
    return {"expires": expires.isoformat()}


def expired(holder: dict[str, Any], wall: float) -> bool:
    """The holder's lease ended before ``wall``, beyond the clock skew. A lock without a
    readable expiry (written by an older regsweep, or not by regsweep) never expires."""
    try:
        expires = datetime.fromisoformat(holder["expires"])
    except (KeyError, TypeError, ValueError):
        return False
    if expires.tzinfo is None:
        return False
    return expires + CLOCK_SKEW < datetime.fromtimestamp(wall, UTC)


class Renewal:
    """Renews the lock at ``path`` (which holds ``content``) on a thread until stopped."""

    def __init__(self, store: ConditionalWriteStore, path: str, content: bytes) -> None:
        self.store, self.path, self.content = store, path, content
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="regsweep-lease", daemon=True)

    def start(self) -> None:
        """Renew every :data:`RENEW_EVERY` on a thread of its own, so that the lease stays
        fresh while the work blocks."""
        self._thread.start()

    def stop(self) -> bool:
        """Stop renewing; True when the lock was lost (taken over) meanwhile."""
        self._stop.set()
        self._thread.join()
        return self.lost

    def _run(self) -> None:
        while not self._stop.wait(RENEW_EVERY.total_seconds()):
            holder = {**json.loads(self.content), **lease_until(time.time())}
            renewed = json.dumps(holder).encode()
            try:
                if not self.store.replace(self.path, self.content, renewed):
                    self.lost = True
                    log.error(
                        "lost the lock %s in %s: another regsweep took it over after "
                        "its lease ran out",
                        self.path,
                        self.store.describe(),
                    )
                    return
            except OSError as exc:  # try again at the next renewal, within the lease
                log.warning("could not renew the lock %s: %s", self.path, exc)
                continue
            self.content = renewed
