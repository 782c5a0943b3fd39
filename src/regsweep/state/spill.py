"""Where the registry-wide digest sets and sizes go past the memory limit: SQLite files.

Each spilled structure (:mod:`regsweep.core.bounded`) gets a database of its own in a
temporary folder of its own, removed when it is closed, let go, or the process exits. It
is scratch space, rebuilt by every run, so nothing in it needs to survive a crash: no
journal (``journal_mode=OFF``), no fsync (``synchronous=OFF``), and one connection that
keeps its lock (``locking_mode=EXCLUSIVE``): otherwise every lookup takes and drops the
file lock, and 100,000 lookups took 1.95 s here instead of 0.83. Digests are keys of
``WITHOUT ROWID`` tables, as 32 raw bytes (``bytes.fromhex``) for a ``sha256:`` digest,
so the table is the B-tree of the keys alone and iterates in digest order. Writes are
buffered and go in with ``executemany`` a batch at a time, one transaction each, in key
order (neighbouring rows share a leaf of the B-tree); every read looks at the buffer first.

Each connection's page cache is capped at :data:`CACHE_KIB`: the files are read back
through the operating system's cache, and six structures with SQLite's larger caches would
take back much of what spilling saves.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

from regsweep.core.bounded import MemoryBudget
from regsweep.core.model import Digest

#: Entries buffered before they are written in one ``executemany``.
BATCH = 4096
#: Page cache of each connection, in KiB.
CACHE_KIB = 2048

_SHA256 = "sha256:"


def memory_budget(limit: int | None, *, batch: int | None = None) -> MemoryBudget:
    """The budget of a run limited to ``limit`` bytes, spilling to SQLite (None: no limit);
    ``batch``: writes buffered at most (default :data:`BATCH`; the tests take 1, so that
    every read goes to the file)."""
    return MemoryBudget(limit, SqliteSpill(batch or BATCH))


class SqliteSpill:
    """Makes the on-disk stores of a :class:`~regsweep.core.bounded.MemoryBudget`."""

    def __init__(self, batch: int = BATCH) -> None:
        self.batch = batch

    def digest_set(self, name: str) -> SqliteDigestSet:
        return SqliteDigestSet(name, self.batch)

    def digest_sizes(self, name: str) -> SqliteDigestSizes:
        return SqliteDigestSizes(name, self.batch)

    def manifests(self, name: str) -> SqliteManifests:
        return SqliteManifests(name, self.batch)


def _key(digest: str) -> bytes:
    """A ``sha256:`` digest as its 32 bytes; anything else as its text after a zero byte,
    padded so that it is never 32 bytes long (a digest string never starts with one)."""
    if len(digest) == 71 and digest.startswith(_SHA256):
        try:
            return bytes.fromhex(digest[7:])
        except ValueError:
            pass
    raw = b"\0" + digest.encode()
    return raw + b"\0" if len(raw) == 32 else raw


def _digest(key: bytes) -> Digest:
    if len(key) == 32:
        return Digest(_SHA256 + key.hex())
    return Digest(key.strip(b"\0").decode())


class _Database:
    """A scratch database in a temporary folder, removed when closed or let go."""

    def __init__(self, name: str, schema: str, batch: int) -> None:
        self.batch = batch
        folder = tempfile.mkdtemp(prefix=f"regsweep-{name.replace(' ', '-')}-")
        self.db = sqlite3.connect(
            Path(folder) / "spill.sqlite", isolation_level=None, check_same_thread=False
        )
        self._removal = weakref.finalize(self, _remove, self.db, folder)
        pragmas = ("locking_mode=EXCLUSIVE", "journal_mode=OFF", "synchronous=OFF")
        for pragma in (*pragmas, f"cache_size=-{CACHE_KIB}"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute(schema)
        self._count: int | None = 0

    def write(self, statement: str, rows: Iterable[tuple[object, ...]]) -> None:
        """``statement`` for each of ``rows``, in one transaction: without one, each row
        would be a transaction of its own, written out page by page (100,000 rows took
        4.7 s here instead of 0.56)."""
        self.db.execute("BEGIN")
        self.db.executemany(statement, rows)
        self.db.execute("COMMIT")
        self._count = None

    def _flush(self) -> None:
        """Write what is buffered: each store buffers its own writes."""

    def __len__(self) -> int:
        self._flush()
        if self._count is None:
            self._count = int(self.db.execute("SELECT count(*) FROM d").fetchone()[0])
        return self._count

    def keys(self) -> Iterator[Digest]:
        """Every key, in digest order."""
        self._flush()
        return (_digest(k) for (k,) in self.db.execute("SELECT k FROM d ORDER BY k"))

    def close(self) -> None:
        self._removal()


def _remove(db: sqlite3.Connection, folder: str) -> None:
    db.close()
    shutil.rmtree(folder, ignore_errors=True)


class SqliteDigestSet(_Database):
    def __init__(self, name: str, batch: int = BATCH) -> None:
        super().__init__(name, "CREATE TABLE d (k BLOB PRIMARY KEY) WITHOUT ROWID", batch)
        self._pending: set[Digest] = set()

    def add_many(self, digests: Iterable[Digest]) -> None:
        for digest in digests:
            self._pending.add(digest)
            if len(self._pending) >= self.batch:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            keys = sorted(_key(d) for d in self._pending)
            self.write("INSERT OR IGNORE INTO d VALUES (?)", ((k,) for k in keys))
            self._pending.clear()

    def discard_many(self, digests: Iterable[Digest]) -> None:
        self._flush()
        self.write("DELETE FROM d WHERE k = ?", ((_key(d),) for d in digests))

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, str):
            return False
        if digest in self._pending:
            return True
        return (
            self.db.execute("SELECT 1 FROM d WHERE k = ?", (_key(digest),)).fetchone() is not None
        )

    def __iter__(self) -> Iterator[Digest]:
        return self.keys()


_REPLACE = "INSERT OR REPLACE INTO d VALUES (?, ?)"
_IGNORE = "INSERT OR IGNORE INTO d VALUES (?, ?)"


class SqliteDigestSizes(_Database):
    def __init__(self, name: str, batch: int = BATCH) -> None:
        super().__init__(
            name, "CREATE TABLE d (k BLOB PRIMARY KEY, n INTEGER) WITHOUT ROWID", batch
        )
        #: digest -> (value, whether it replaces one already on disk)
        self._pending: dict[Digest, tuple[int, bool]] = {}

    def put_many(self, items: Iterable[tuple[Digest, int]]) -> None:
        for digest, value in items:
            self._pending[digest] = (value, True)
            if len(self._pending) >= self.batch:
                self._flush()

    def put_absent(self, items: Iterable[tuple[Digest, int]]) -> None:
        for digest, value in items:
            self._pending.setdefault(digest, (value, False))
            if len(self._pending) >= self.batch:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        for replace, insert in ((True, _REPLACE), (False, _IGNORE)):
            rows = sorted((_key(d), v) for d, (v, r) in self._pending.items() if r is replace)
            self.write(insert, rows)
        self._pending.clear()

    def get(self, digest: Digest) -> int | None:
        pending = self._pending.get(digest)
        if pending is not None and pending[1]:
            return pending[0]
        row = self.db.execute("SELECT n FROM d WHERE k = ?", (_key(digest),)).fetchone()
        if row is not None:
            return int(row[0])
        return pending[0] if pending is not None else None

    def discard_many(self, digests: Iterable[Digest]) -> None:
        self._flush()
        self.write("DELETE FROM d WHERE k = ?", ((_key(d),) for d in digests))

    def items(self) -> Iterator[tuple[Digest, int]]:
        self._flush()
        return ((_digest(k), int(n)) for k, n in self.db.execute("SELECT k, n FROM d ORDER BY k"))


class SqliteManifests(_Database):
    """Manifests as their codec's bytes (a table with a rowid: rows of a kilobyte or more
    make a ``WITHOUT ROWID`` table's B-tree deep)."""

    def __init__(self, name: str, batch: int = BATCH) -> None:
        super().__init__(name, "CREATE TABLE d (k BLOB PRIMARY KEY, v BLOB)", batch)
        self._pending: dict[Digest, bytes] = {}

    def put_many(self, items: Iterable[tuple[Digest, bytes]]) -> None:
        for digest, data in items:
            self._pending[digest] = data
            if len(self._pending) >= max(1, self.batch // 16):  # rows of a kilobyte
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            rows = sorted((_key(d), v) for d, v in self._pending.items())
            self.write("INSERT OR REPLACE INTO d VALUES (?, ?)", rows)
            self._pending.clear()

    def get(self, digest: Digest) -> bytes | None:
        pending = self._pending.get(digest)
        if pending is not None:
            return pending
        row = self.db.execute("SELECT v FROM d WHERE k = ?", (_key(digest),)).fetchone()
        return None if row is None else bytes(row[0])

    def __iter__(self) -> Iterator[Digest]:
        return self.keys()
