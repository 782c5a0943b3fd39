"""Pulls: listen to the registry's notifications, import its access logs, and read what the
pull store knows into an inventory for planning.

The keep rules ``pulled_within`` and ``keep_most_recently_pulled`` are pure: they read each
tag's :class:`~regsweep.core.pulls.TagActivity`, which :func:`read_pulls` attaches from the
store before the plan is made.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from regsweep.core.errors import UsageError
from regsweep.core.model import Inventory
from regsweep.core.pulls import Action, Span, with_activity
from regsweep.pipeline.observer import Observer
from regsweep.sources.events.access_log import LogSummary, open_log, summarize
from regsweep.sources.events.listener import DEFAULT_MAX_BODY, NotificationListener
from regsweep.state.pull_writer import GroupWriter
from regsweep.state.pulls import PullStore


@dataclass(frozen=True)
class ListenOptions:
    """Where ``regsweep listen`` listens, and what it accepts."""

    host: str
    port: int
    #: the pull store it writes
    store: Path
    #: every POST must carry ``Authorization: Bearer <token>``; None: no token asked
    token: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    #: the metrics file of the last cleanup, served on ``GET /metrics``
    metrics_file: Path | None = None


class Listening:
    """A running listener: ``serve()`` until ``stop()`` (from another thread or a signal
    handler), then leave the ``with`` block, which commits the last events and closes."""

    def __init__(self, options: ListenOptions, observer: Observer) -> None:
        self._writer = GroupWriter(options.store)
        try:
            self._server = NotificationListener(
                (options.host, options.port),
                self._writer,
                token=options.token,
                max_body=options.max_body,
                report=observer.error,
                metrics=_file_reader(options.metrics_file) if options.metrics_file else None,
            )
        except OSError as exc:
            self._writer.close()
            raise UsageError(
                f"cannot listen on {options.host}:{options.port} (--address): {exc.strerror}"
            ) from None
        self._writer.start()
        self._observer = observer

    @property
    def url(self) -> str:
        """Where the registry must send its events (the port chosen when 0 was asked)."""
        return self._server.url

    def serve(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop accepting; safe from any thread but the one in :meth:`serve`, so a signal
        handler calls it from a thread of its own."""
        self._server.shutdown()

    def __enter__(self) -> Listening:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the socket, then the writer: every event a request handed over is
        committed first; a request still arriving is answered 503 (the registry resends)."""
        self._server.server_close()
        self._writer.close()
        self._observer.info("stopped; every acknowledged event is in the pull store")


def _file_reader(path: Path) -> Callable[[], bytes]:
    """What ``GET /metrics`` answers: the file as the last run wrote it (whole: it is
    replaced by a rename), or nothing before the first run."""

    def read() -> bytes:
        try:
            return path.read_bytes()
        except OSError:
            return b""

    return read


def stop_on_signal(listening: Listening) -> None:
    """A signal handler's body: stop the listener from a thread of its own (``shutdown``
    waits for the serving loop, which the handler would be interrupting)."""
    threading.Thread(target=listening.stop, name="listener-stop").start()


@dataclass(frozen=True)
class ImportedLog:
    """One access log imported: what it held and the period it covers."""

    path: Path
    summary: LogSummary

    def describe(self) -> str:
        s = self.summary
        counted = ", ".join(f"{s.counts[a]} {a.value}s" for a in Action)
        assert s.first is not None and s.last is not None
        return (
            f"{self.path}: {s.requests} requests in {s.lines} lines, {counted}, from "
            f"{s.first.isoformat(timespec='seconds')} to {s.last.isoformat(timespec='seconds')}"
        )


def import_logs(paths: Sequence[Path], store: Path, observer: Observer) -> list[ImportedLog]:
    """Record the pulls, pushes and deletes of the registry's access logs in the store.

    Every file is read before anything is written, so an unreadable file or one that holds
    no registry log changes nothing (exit 2). Importing a log again changes nothing: the
    store keeps the latest fact of each kind, and the log's period is keyed by its path and
    first line.
    """
    imported = [ImportedLog(path, _read_log(path)) for path in paths]
    with PullStore.create(store) as pulls, pulls.transaction():
        for log in imported:
            source = f"access log {log.path.resolve()}"
            pulls.record(log.summary.events.values(), source)
            assert log.summary.first is not None and log.summary.last is not None
            pulls.cover(source, Span(log.summary.first, log.summary.last))
    for log in imported:
        observer.info(f"imported {log.describe()}")
    return imported


def _read_log(path: Path) -> LogSummary:
    try:
        summary = summarize(open_log(path))
    except OSError as exc:
        if isinstance(exc, gzip.BadGzipFile):
            raise UsageError(f"{path}: not a readable gzip file: {exc}") from None
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except (EOFError, zlib.error) as exc:
        raise UsageError(f"{path}: not a readable gzip file: {exc}") from None
    if summary.requests == 0:
        raise UsageError(
            f"{path}: no request the registry logged in {summary.lines} lines (expected its "
            "access log: text or JSON log lines, combined-log lines, or docker logs output)"
        )
    return summary


@dataclass(frozen=True)
class PullsRead:
    """The pull store a plan was made with, and the period it saw whole."""

    path: Path
    known: Span | None

    def describe(self) -> str:
        if self.known is None:
            return f"pull store {self.path}: nothing recorded yet, so pull rules keep every tag"
        since = self.known.since.isoformat(timespec="seconds")
        until = self.known.until.isoformat(timespec="seconds")
        return f"pulls known from {since} to {until} (pull store {self.path})"

    def to_json(self) -> dict[str, str | None]:
        known = self.known
        return {
            "store": str(self.path),
            "known_since": known.since.isoformat() if known else None,
            "known_until": known.until.isoformat() if known else None,
        }


def read_pulls(
    inventory: Inventory, path: Path, observer: Observer, *, age_by_push: bool
) -> tuple[Inventory, PullsRead]:
    """``inventory`` with what the store knows of every tag (API mode, ``age_by_push``: a
    tag whose last push it recorded is aged by that push, not by its build time)."""
    with PullStore.open_existing(path) as store:
        history = store.history()
    read = PullsRead(path, history.known)
    observer.info(read.describe())
    with_pulls = with_activity(inventory, history, age_by_push=age_by_push)
    if with_pulls.age_source != inventory.age_source:
        observer.info(f"API mode ages: {with_pulls.age_source}")
    return with_pulls, read
