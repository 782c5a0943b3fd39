"""The storage interface: a small read protocol, and one protocol per ability beyond it.

Each consumer asks for the narrowest one it needs (discovery only reads; apply reads and
deletes; the lock writes conditionally; the native collector needs them all), so what a
step can do to the registry's storage shows in its signature.

Paths are relative to the driver's root directory, ``/``-separated, and never contain
``..`` or start with ``/``: a store refuses such a path, so a name read from the registry
(a tag, a repository, a link's content) can never reach outside the root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, Protocol

from regsweep.core.errors import UsageError
from regsweep.sources.requests import RequestCounts


class StoredFile(NamedTuple):
    """A file (object) in the store. ``is_link``: a symlink, reported and never followed.

    A named tuple, not a frozen dataclass: discovery makes one for every file of the tree,
    and a frozen dataclass takes 1.4 us to make where this takes 0.5 (230,000 files at
    100,000 blobs: 0.2 s)."""

    path: str
    size: int
    mtime: float
    is_link: bool = False


#: Whether a folder (its path, relative to the root) is to be left out of a walk.
FolderFilter = Callable[[str], bool]


class ReadableStore(Protocol):
    """Reading the tree: what discovery (and so verify) needs. Every ability below extends
    it: no step of regsweep changes a store it has not listed or read first."""

    #: Reads worth running at once. Object storage answers each in milliseconds, so many
    #: overlap; a local folder answers from the page cache in microseconds, and more
    #: Python threads than that then only hand the GIL to each other at every system call.
    readers: int

    #: A call returns in microseconds (a local folder), so an event loop may make it
    #: inline: handing it to a thread costs more than the call itself (measured: apply 1.6x
    #: slower). False for object storage, whose calls take milliseconds and would stall the
    #: loop that drives the registry API's deletes meanwhile. The collector's mark reads
    #: manifests 64 to a task when True, one to a task when False (``mark.READ_BATCH``).
    blocks_briefly: bool

    #: Object storage: a recursive listing costs a request per 1,000 files and listing
    #: folder by folder a request per folder, so a walk of the tree is done flat (in runs
    #: of folders listed at once, :meth:`split_listing`); folders exist only while they
    #: hold a file.
    lists_flat: bool

    @property
    def requests(self) -> RequestCounts | None:
        """The requests sent so far, by kind: a store reached over the network counts them
        (its costs are requests); None for a local folder."""
        ...

    def describe(self) -> str:
        """Where the store is, for messages."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file or folder (prefix) exists at ``path``."""
        ...

    def list_files(self, prefix: str, skip: FolderFilter | None = None) -> Iterator[StoredFile]:
        """Every file below ``prefix``, recursively, in no particular order. A store that
        walks folders (a local folder) does not enter one whose path ``skip`` is true of; a
        flat listing (object storage) lists the files below it anyway, for the caller to
        pass over."""
        ...

    def split_listing(
        self, prefix: str, parts: int, skip: FolderFilter | None = None
    ) -> list[Callable[[], Iterator[StoredFile]]]:
        """:meth:`list_files` of ``prefix`` as listings that may run at once, about ``parts``
        of them: together they list every file once, and each folder directly below
        ``prefix`` whole in one of them. One, the whole walk, where splitting gains nothing
        (a local folder)."""
        ...

    def list_dir(self, prefix: str) -> list[str]:
        """Names directly below ``prefix`` (files and folders); empty when it is absent."""
        ...

    def read(self, path: str) -> bytes:
        """The content of a file; ``FileNotFoundError`` when it is absent."""
        ...

    def stat(self, path: str) -> StoredFile | None:
        """The file at ``path``, or None when it is absent."""
        ...


class ScannableStore(ReadableStore, Protocol):
    """What the garbage collector's walk of the whole tree adds to reading: it looks at
    every blob, so it lists the way the store lists cheapest and stats in batches (an
    object store sends the HEADs of a batch at once)."""

    def stat_many(self, paths: Sequence[str]) -> list[StoredFile | None]:
        """:meth:`stat` of each path, in order."""
        ...


class DeletingStore(ReadableStore, Protocol):
    """Removing files and folders: untagging and deleting manifests on storage, releasing
    a lock, the collector's sweep and cleanup. The batch calls exist because the collector
    deletes every unreferenced blob: an object store deletes up to 1,000 keys a request."""

    def delete_tree(self, prefix: str) -> bool:
        """Remove a file or a whole folder; False when nothing was there."""
        ...

    def delete_files(self, paths: Sequence[str]) -> int:
        """Delete these files (never folders); absent ones are skipped. How many went."""
        ...

    def remove_empty_folders(self, paths: Sequence[str]) -> int:
        """Remove each folder that holds nothing, in order (list children before parents).

        A folder that is absent, not empty or not a folder is left alone, so a file written
        into it at the same moment is never lost. Object stores have no folders: 0.
        """
        ...


class MovingStore(ReadableStore, Protocol):
    """Renaming: the collector's quarantine takes a blob out of the tree and puts it back
    in one step, where a delete could not be undone."""

    def move(self, source: str, target: str) -> bool:
        """Rename a file or folder, creating the target's parents; False when ``source`` is
        absent, ``FileExistsError`` when ``target`` exists. One rename on a filesystem."""
        ...


class ConditionalWriteStore(ReadableStore, Protocol):
    """Writes of which, of two racing callers, exactly one wins: the lock and its lease,
    which keep two regsweeps (maybe on two hosts sharing a bucket) from working at once."""

    def write_new(self, path: str, data: bytes) -> bool:
        """Create a file holding ``data`` unless ``path`` exists (then False), atomically:
        of two callers, exactly one succeeds."""
        ...

    def replace(self, path: str, expected: bytes, data: bytes) -> bool:
        """Overwrite the file ``path`` with ``data`` only if it still holds ``expected``
        (False when it holds anything else or is absent), atomically against another
        ``replace``: of two callers expecting the same content, exactly one succeeds."""
        ...


class Store(ScannableStore, DeletingStore, MovingStore, ConditionalWriteStore, Protocol):
    """Every ability: what a registry's storage (:class:`~.local.LocalStore`,
    :class:`~.s3.S3Store`) offers, what :func:`~.open.open_storage` returns (which makes
    mypy check both against all of it), and what the native collector needs. Every other
    consumer asks for less."""


class PathEscapeError(UsageError):
    """A path that would leave the store's root."""


def check_relative(path: str) -> str:
    """Return ``path`` if it is a clean relative path, else raise :class:`PathEscapeError`.

    Clean: no empty, ``.`` or ``..`` part, no backslash. (Called for every path the
    collector touches; without a dot in it, an empty part is the only thing to look for.)
    """
    if (
        "\\" in path
        or not path
        or path[0] == "/"
        or path[-1] == "/"
        or "//" in path
        or ("." in path and any(p in (".", "..") for p in path.split("/")))
    ):
        raise PathEscapeError(f"refusing path outside the storage root: {path!r}")
    return path
