"""The small storage interface every storage-side step is written against.

Paths are relative to the driver's root directory, ``/``-separated, and never contain
``..`` or start with ``/``: a store refuses such a path, so a name read from the registry
(a tag, a repository, a link's content) can never reach outside the root.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from regsweep.errors import UsageError


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file (object) in the store. ``is_link``: a symlink, reported and never followed."""

    path: str
    size: int
    mtime: float
    is_link: bool = False


class Store(Protocol):
    """What regsweep needs from a storage backend (a local folder, or object storage)."""

    def describe(self) -> str:
        """Where the store is, for messages."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file or folder (prefix) exists at ``path``."""
        ...

    def list_files(self, prefix: str) -> Iterator[StoredFile]:
        """Every file below ``prefix``, recursively, in no particular order."""
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

    def delete_tree(self, prefix: str) -> bool:
        """Remove a file or a whole folder; False when nothing was there."""
        ...


class PathEscapeError(UsageError):
    """A path that would leave the store's root."""


def check_relative(path: str) -> str:
    """Return ``path`` if it is a clean relative path, else raise :class:`PathEscapeError`."""
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise PathEscapeError(f"refusing path outside the storage root: {path!r}")
    return path
