"""The pull store: the last pull, push and delete seen of every tag and digest, in SQLite.

One row per (action, repository, tag or digest) holds the latest such event and where it
was learnt (``notifications``, or ``access log FILE``); the ``coverage`` table holds the
periods over which the store saw every event, which is what lets a missing pull mean "not
pulled" (:mod:`regsweep.core.pulls`). Writing keeps the later of two facts, so recording the
same event twice (the registry re-sends what it could not deliver; a log imported again)
changes nothing.

SQLite, from the standard library, because the store is small (a row per tag and digest),
written by one listener and read by runs that may overlap it: WAL lets readers go on while
the listener commits, and ``synchronous=FULL`` makes a commit survive a power cut, not just
a killed process, since the listener acknowledges an event only once it is committed.
Migrations are numbered by ``PRAGMA user_version``; a store made by a newer regsweep is
refused rather than misread.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from regsweep.core.errors import UsageError
from regsweep.core.model import Digest
from regsweep.core.pulls import Action, Event, Fact, History, Span, known_span
from regsweep.state.journal import state_dir

#: Each entry moves the schema one version up (its statements run in one transaction);
#: ``PRAGMA user_version`` counts the entries applied. Times are Unix seconds.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE facts (
            action TEXT NOT NULL,
            repository TEXT NOT NULL,
            reference TEXT NOT NULL,
            at REAL NOT NULL,
            digest TEXT,
            source TEXT NOT NULL,
            PRIMARY KEY (action, repository, reference)
        ) WITHOUT ROWID""",
        """CREATE TABLE coverage (
            source TEXT NOT NULL,
            since REAL NOT NULL,
            until REAL NOT NULL,
            PRIMARY KEY (source, since)
        ) WITHOUT ROWID""",
    ),
)

#: The source of every fact the listener records.
NOTIFICATIONS = "notifications"

#: How long a writer waits for another one (an import while the listener runs).
BUSY_TIMEOUT_MS = 10_000

_UPSERT = """
    INSERT INTO facts (action, repository, reference, at, digest, source)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (action, repository, reference) DO UPDATE SET
        at = excluded.at, digest = excluded.digest, source = excluded.source
    WHERE excluded.at > facts.at
"""


def default_pulls_path() -> Path:
    """Where the pull store lives when ``--pulls-db`` is not given."""
    return state_dir() / "pulls.sqlite"


class PullStore:
    """One connection to the store; a context manager. Not shared between threads."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def create(cls, path: Path) -> PullStore:
        """Open the store for writing, creating it (owner-only) and its folder if needed."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            connection = _connect(_uri(path))
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"pull store {path} (--pulls-db): {_why(exc)}") from None
        store = cls(path, connection)
        try:
            store._migrate()
        except sqlite3.Error as exc:
            store.close()
            raise UsageError(f"pull store {path} (--pulls-db): {_why(exc)}") from None
        except UsageError:
            store.close()
            raise
        return store

    @classmethod
    def open_existing(cls, path: Path) -> PullStore:
        """Open a store that must exist (for reading); a missing one is a usage error."""
        if not path.is_file():
            raise UsageError(
                f"no pull store at {path} (--pulls-db): start `regsweep listen` or run "
                "`regsweep pulls import` with it first"
            )
        try:
            store = cls(path, _connect(_uri(path)))
            version = store._version()
        except sqlite3.Error as exc:
            raise UsageError(f"pull store {path} (--pulls-db): {_why(exc)}") from None
        if version != len(MIGRATIONS):
            store.close()
            if version > len(MIGRATIONS):
                raise UsageError(_newer(path, version))
            raise UsageError(
                f"pull store {path} (--pulls-db): not a regsweep pull store, or an older one "
                f"(schema version {version}): open it once with `regsweep listen` or "
                "`regsweep pulls import` to upgrade it"
            )
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PullStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: committed whole at the end, rolled back on an error.

        ``BEGIN IMMEDIATE`` takes the write lock at once, so a second writer waits
        (``BUSY_TIMEOUT_MS``) instead of failing half way through.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def record(self, events: Iterable[Event], source: str) -> None:
        """Keep each event unless a later one of its kind is already held (in a
        :meth:`transaction`)."""
        self._db.executemany(
            _UPSERT,
            (
                (e.action.value, e.repository, e.reference, e.at.timestamp(), e.digest, source)
                for e in events
            ),
        )

    def cover(self, source: str, span: Span) -> None:
        """Record that ``source`` delivered every event of ``span`` (in a
        :meth:`transaction`); a span with the same start is extended, never shortened."""
        self._db.execute(
            "INSERT INTO coverage (source, since, until) VALUES (?, ?, ?) "
            "ON CONFLICT (source, since) DO UPDATE SET until = max(until, excluded.until)",
            (source, span.since.timestamp(), span.until.timestamp()),
        )

    def has_coverage(self, source: str) -> bool:
        """Whether ``source`` ever delivered events to this store."""
        row = self._db.execute("SELECT 1 FROM coverage WHERE source = ? LIMIT 1", (source,))
        return row.fetchone() is not None

    # -- reading --------------------------------------------------------------------------

    def history(self) -> History:
        """Every fact and the period the store saw whole, as the planner reads them."""
        spans = [
            Span(_time(since), _time(until))
            for since, until in self._db.execute("SELECT since, until FROM coverage")
        ]
        found: dict[str, dict[tuple[str, str], Fact]] = {action: {} for action in Action}
        rows = self._db.execute(
            "SELECT action, repository, reference, at, digest, source FROM facts"
        )
        for action, repository, reference, at, digest, source in rows:
            fact = Fact(_time(at), source, reference, Digest(digest) if digest else None)
            found[action][repository, reference] = fact
        return History(
            known_span(spans), found[Action.PULL], found[Action.PUSH], found[Action.DELETE]
        )

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Bring the schema to the latest version in one transaction; the version is read
        inside it, so two regsweeps creating the store at once cannot both migrate."""
        self._db.execute("PRAGMA journal_mode=WAL")
        with self.transaction():
            version = self._version()
            if version > len(MIGRATIONS):
                raise UsageError(_newer(self.path, version))
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")


def _connect(uri: str) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are explicit (:meth:`transaction`).

    It may be handed to another thread once (the listener opens the store, so a bad path
    fails at start, and its writer thread uses it from then on), never shared.
    """
    connection = sqlite3.connect(
        uri,
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _why(exc: OSError | sqlite3.Error) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


def _newer(path: Path, version: int) -> str:
    return (
        f"pull store {path} (--pulls-db) has schema version {version}, newer than this "
        f"regsweep reads ({len(MIGRATIONS)}): upgrade regsweep"
    )


def _uri(path: Path) -> str:
    """An SQLite URI that opens ``path`` only if it exists (``mode=rw`` never creates), its
    name percent-encoded (a ``?`` or ``#`` in a folder name would cut a hand-made URI)."""
    return f"{path.resolve().as_uri()}?mode=rw"
