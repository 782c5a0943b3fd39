"""Each registry's run history, kept for the brake in a small SQLite file beside its journal.

Every real ``run`` and ``apply`` is recorded once it has applied its plan: when its plan
was made, what it deleted, which repositories its policies covered and which it cleaned
through (:class:`~regsweep.plan.history.PastRun`). The brake reads it back before the next
run (:mod:`regsweep.plan.history`). SQLite, not the JSON-lines journal: the brake asks
"when was this repository last cleaned" of thousands of repositories, every run, and a
file that is written whole or not at all survives a run killed half way.

The file is the registry's journal path with ``.history.sqlite`` for ``.jsonl``: one per
registry, owner-only, never opened through a symlink. Only the last :data:`KEEP_RUNS`
runs are kept.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from regsweep.core.errors import OperationError, RegsweepError, UsageError
from regsweep.plan.file import RegistryIdentity
from regsweep.plan.history import History, PastRun
from regsweep.state.journal import default_journal_path

#: Runs kept per registry: a year of daily runs would be more than the brake ever reads.
KEEP_RUNS = 100
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    seen_before TEXT NOT NULL,
    tags INTEGER NOT NULL,
    tags_deleted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS repositories (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    repository TEXT NOT NULL,
    cleaned INTEGER NOT NULL,
    PRIMARY KEY (run, repository)
);
"""


def default_history_path(registry: RegistryIdentity) -> Path:
    """Where a registry's run history is kept: beside its default journal."""
    return default_journal_path(registry).with_suffix(".history.sqlite")


def load_history(path: Path) -> History:
    """The runs recorded at ``path``, oldest first; none when there is no file yet."""
    if not path.exists():
        return History()
    with _connected(path, create=False, fails=UsageError) as db:
        rows = db.execute(
            "SELECT id, at, seen_before, tags, tags_deleted FROM runs ORDER BY id"
        ).fetchall()
        covered: dict[int, set[str]] = {}
        cleaned: dict[int, set[str]] = {}
        for run, repository, done in db.execute(
            "SELECT run, repository, cleaned FROM repositories"
        ):
            covered.setdefault(run, set()).add(repository)
            if done:
                cleaned.setdefault(run, set()).add(repository)
    return History(
        tuple(
            PastRun(
                at=datetime.fromisoformat(at),
                seen_before=datetime.fromisoformat(seen_before),
                tags=tags,
                tags_deleted=deleted,
                covered=frozenset(covered.get(run, ())),
                cleaned=frozenset(cleaned.get(run, ())),
            )
            for run, at, seen_before, tags, deleted in rows
        )
    )


def record_run(path: Path, run: PastRun) -> None:
    """Add ``run`` to the history at ``path`` (made if needed), dropping the oldest runs
    beyond :data:`KEEP_RUNS`; all or nothing. The run is done by then: a failure is
    :class:`OperationError` (exit 1), never "nothing changed"."""
    with _connected(path, create=True, fails=OperationError) as db, db:
        cursor = db.execute(
            "INSERT INTO runs (at, seen_before, tags, tags_deleted) VALUES (?, ?, ?, ?)",
            (run.at.isoformat(), run.seen_before.isoformat(), run.tags, run.tags_deleted),
        )
        db.executemany(
            "INSERT INTO repositories (run, repository, cleaned) VALUES (?, ?, ?)",
            [(cursor.lastrowid, name, name in run.cleaned) for name in sorted(run.covered)],
        )
        db.execute(
            "DELETE FROM runs WHERE id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?)",
            (KEEP_RUNS,),
        )


@contextlib.contextmanager
def _connected(
    path: Path, *, create: bool, fails: type[RegsweepError]
) -> Iterator[sqlite3.Connection]:
    """A connection to the history at ``path``; a file that is not one (or a symlink) is
    one clear ``fails`` error naming the way out."""
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_NOFOLLOW: a symlink there is refused (ELOOP), not opened where it points
        flags = os.O_WRONLY | os.O_CREAT if create else os.O_RDONLY
        os.close(os.open(path, flags | os.O_NOFOLLOW, 0o600))
        db = sqlite3.connect(path, timeout=30.0)
    except (OSError, sqlite3.Error) as exc:
        raise _unusable(path, exc, fails) from None
    try:
        db.execute("PRAGMA foreign_keys = ON")
        if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        yield db
    except sqlite3.Error as exc:
        raise _unusable(path, exc, fails) from None
    finally:
        db.close()


def _unusable(path: Path, exc: Exception, fails: type[RegsweepError]) -> RegsweepError:
    return fails(
        f"the run history {path} cannot be used ({exc}); move it away to start a new one "
        "(the brake then treats the next run as the registry's first cleanup)"
    )
