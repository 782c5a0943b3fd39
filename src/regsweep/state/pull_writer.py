"""The listener's writer: one thread commits for every request thread, many events per commit.

The listener may answer 200 only once an event is on disk, and a durable commit costs an
fsync (a few milliseconds here: about 400 a second). Committing each request on its own
would cap the listener at that rate; instead each request hands its events to this
thread and waits, and the thread commits everything handed over while the previous commit
ran in one transaction. Under load, one fsync then acknowledges many requests.

The writer also keeps the store's coverage (:mod:`regsweep.core.pulls`): every commit, and
a heartbeat every :data:`~regsweep.core.pulls.HEARTBEAT` while nothing arrives, extends the
period over which the store holds every event. A refused request ends that period, since
events may be going missing (a token changed on one side only); the next accepted request
begins a new one. A listener started on a store that never received notifications begins
its period at its first accepted event, not at its start: a registry that was never told
to send must not make the store look complete.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from regsweep.core.errors import OperationError
from regsweep.core.pulls import HEARTBEAT, Event, Span
from regsweep.state.pulls import NOTIFICATIONS, PullStore


class WriterStoppedError(OperationError):
    """The writer is stopping or failed: the events were not recorded (answer 503)."""


@dataclass
class _Batch:
    events: Sequence[Event]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


#: Queue markers: stop after committing what came before; a request was refused.
_STOP = object()
_REFUSED = object()


class GroupWriter:
    """Commits the events of many requests together; see the module docstring."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] | None = None,
        heartbeat: timedelta = HEARTBEAT,
    ) -> None:
        self.path = path
        self._clock = clock or (lambda: datetime.now(UTC))
        self._heartbeat = heartbeat.total_seconds()
        self._queue: queue.Queue[_Batch | object] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._failed: BaseException | None = None
        #: the start of the period being extended; None while no period is open
        self._since: datetime | None = None
        self._thread = threading.Thread(target=self._run, name="pull-store-writer", daemon=True)
        self._store = PullStore.create(path)
        if self._store.has_coverage(NOTIFICATIONS):
            self._since = self._clock()

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self._failed is None

    def submit(self, events: Sequence[Event]) -> None:
        """Block until ``events`` are committed; raise :class:`WriterStoppedError` if they
        were not (the caller must then not acknowledge them)."""
        batch = _Batch(events)
        with self._lock:
            if self._closed:
                raise WriterStoppedError("the listener is stopping")
            self._queue.put(batch)
        batch.done.wait()
        if batch.error is not None:
            raise WriterStoppedError(f"cannot record events: {batch.error}")

    def refused(self) -> None:
        """A request was refused: the period of complete coverage ends here."""
        self._queue.put(_REFUSED)

    def close(self) -> None:
        """Commit what was handed over, close the period at this moment, stop (a writer
        never started only closes its store)."""
        with self._lock:
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.ident is None:
            self._store.close()
        else:
            self._thread.join()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # the store broke: fail every waiting request
            self._failed = exc
        finally:
            self._store.close()
            with self._lock:  # no batch can be queued after this drain
                self._closed = True
                self._fail_waiting()

    def _loop(self) -> None:
        """Commit what arrived since the last commit, in order: the batches before a
        refusal extend the period, those after it begin a new one."""
        while True:
            try:
                first = self._queue.get(timeout=self._heartbeat)
            except queue.Empty:
                self._write([])  # the heartbeat
                continue
            items = [first]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            pending: list[_Batch] = []
            for item in items:
                if isinstance(item, _Batch):
                    pending.append(item)
                    continue
                if pending or item is _STOP:
                    self._write(pending)
                    pending = []
                if item is _STOP:
                    return
                self._since = None  # refused
            if pending:
                self._write(pending)

    def _write(self, batches: list[_Batch]) -> None:
        if not batches and self._since is None:
            return  # a heartbeat with no period open: nothing to extend
        now = self._clock()
        if batches and self._since is None:
            self._since = now
        try:
            with self._store.transaction():
                for batch in batches:
                    self._store.record(batch.events, NOTIFICATIONS)
                if self._since is not None:
                    self._store.cover(NOTIFICATIONS, Span(self._since, now))
        except Exception as exc:
            for batch in batches:
                batch.error = exc
        for batch in batches:
            batch.done.set()

    def _fail_waiting(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Batch):
                item.error = self._failed or WriterStoppedError("the listener stopped")
                item.done.set()
