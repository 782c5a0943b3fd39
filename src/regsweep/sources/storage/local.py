"""A registry storage tree in a local folder (the filesystem driver's ``rootdirectory``)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from stat import S_ISLNK

from regsweep.sources.storage.store import (
    FolderFilter,
    PathEscapeError,
    StoredFile,
    check_relative,
)

#: Folders regsweep makes (its lock and quarantine area, a blob folder moved back): never
#: writable by others, whatever the umask. A world-writable quarantine would let any local
#: user put bytes of their own where the collector restores blobs from.
FOLDER_MODE = 0o755
#: Bytes per read system call: a manifest, a link, a lock file is one read.
_READ_SIZE = 1 << 16


class LocalStore:
    """The filesystem driver's tree. Symlinks are listed as such and never followed."""

    lists_flat = False
    requests = None
    #: Measured on a 100,000-blob tree (mark of a dry collection, 2 CPUs): warm page cache
    #: 1 thread 2.4 s, 2 threads 2.8 s, 4 3.4-4.1 s, 48 6.8 s (system time 0.8 s -> 6.5 s:
    #: threads queueing for the GIL); cold cache 1 thread 18-24 s, 2 12.5 s, 4 9.2 s.
    readers = 2
    blocks_briefly = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = os.fspath(root).rstrip("/")  # "" for "/": paths still start with "/"
        self._real_folders: set[str] = {self._root}
        #: folders listed (each checked first), and the symlinks those listings showed
        self._listed: set[str] = set()
        self._links: set[str] = set()

    def describe(self) -> str:
        """The folder's path."""
        return str(self.root)

    def _path(self, path: str) -> str:
        """The full path, refused when a folder on the way to it is a symlink.

        The OS follows a symlinked folder anywhere in a path, so without this check a
        listing or a delete below ``repositories/app -> /elsewhere`` would act outside the
        storage root. (The last component is each method's business: listed as a link,
        refused by ``read``, unlinked by ``delete_tree``.)

        The collector touches every blob and link folder of the tree; checking each folder
        on the way again for every path would cost several times the operation itself. A
        folder found real, or shown as no symlink by the listing of its (checked) parent,
        stays trusted for the life of the store: the registry never makes symlinks, and
        whoever could swap a folder for one already owns the storage. Only the folders
        checked one by one and the symlinks listed are remembered, not every folder listed:
        the collector lists the whole tree.
        """
        full = f"{self._root}/{check_relative(path)}"
        self._check_folder(full.rpartition("/")[0], path)
        return full

    def exists(self, path: str) -> bool:
        """``lexists``: a symlink is there, and is not followed."""
        return os.path.lexists(self._path(path))

    def list_files(self, prefix: str, skip: FolderFilter | None = None) -> Iterator[StoredFile]:
        """A ``scandir`` walk that lists symlinks as links and never descends into one (nor into
        a symlinked ``prefix``), nor into a folder ``skip`` is true of; a file removed while
        it walks is skipped."""
        try:
            base = self._path(prefix)
        except PathEscapeError:
            base = None
        if base is None or os.path.islink(base):
            # scandir would follow it: report the folder as a link instead of listing it
            yield StoredFile(prefix, 0, 0.0, is_link=True)
            return
        stack = [(base, prefix)]
        while stack:
            folder, rel = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                child = f"{rel}/{entry.name}"
                if entry.is_symlink():
                    yield StoredFile(child, 0, 0.0, is_link=True)
                elif entry.is_dir(follow_symlinks=False):
                    if skip is None or not skip(child):
                        stack.append((entry.path, child))
                else:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed since listed (a live registry finishing an upload)
                    yield StoredFile(child, st.st_size, st.st_mtime)

    def split_listing(
        self, prefix: str, parts: int, skip: FolderFilter | None = None
    ) -> list[Callable[[], Iterator[StoredFile]]]:
        """The one walk, whatever ``parts``: from the page cache, a walk's system calls hold
        the GIL for less time than handing its parts between threads would cost."""
        return [partial(self.list_files, prefix, skip)]

    def list_dir(self, prefix: str) -> list[str]:
        """Names in the folder ``prefix``; a symlink on the way, or ``prefix`` itself, is
        refused. What the listing shows of each name (a symlink or not) is remembered (see
        :meth:`_path`): the collector then stats, reads and deletes below the folders
        listed without looking at them again."""
        full = f"{self._root}/{check_relative(prefix)}"
        self._check_folder(full, prefix)
        names = []
        try:
            with os.scandir(full) as entries:
                for entry in entries:
                    names.append(entry.name)
                    if entry.is_symlink():  # d_type: no system call
                        self._links.add(entry.path)
        except (FileNotFoundError, NotADirectoryError):
            return []
        self._listed.add(full)
        return names

    def read(self, path: str) -> bytes:
        """The file's bytes; a symlink is refused.

        Folders on the way are not checked here (four times the cost of the read itself,
        on the hot path): every path read comes from a listing, which never descends into a
        symlinked folder.
        """
        full = f"{self._root}/{check_relative(path)}"
        try:
            handle = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise FileNotFoundError(f"{path} is a symlink; not followed") from None
            raise
        try:  # no file object: no fstat, no buffer; a regular file reads short only at its end
            chunks = [os.read(handle, _READ_SIZE)]
            while len(chunks[-1]) == _READ_SIZE:
                chunks.append(os.read(handle, _READ_SIZE))
        finally:
            os.close(handle)
        return b"".join(chunks)

    def stat(self, path: str) -> StoredFile | None:
        """``lstat``: a symlink is reported as one, never followed."""
        try:
            st = os.lstat(self._path(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StoredFile(path, st.st_size, st.st_mtime, is_link=S_ISLNK(st.st_mode))

    def delete_tree(self, prefix: str) -> bool:
        """``unlink`` for a file or a symlink (never what it points to), else ``rmtree``."""
        full = self._path(prefix)
        if os.path.islink(full) or os.path.isfile(full):
            os.unlink(full)
            return True
        try:
            shutil.rmtree(full)
        except FileNotFoundError:
            return False
        return True

    def _check_folder(self, folder: str, path: str) -> None:
        unchecked = []
        while folder not in self._real_folders and folder:  # the root is in there
            parent = folder.rpartition("/")[0]
            if parent in self._listed and folder not in self._links:
                break  # its parent's listing showed no symlink there
            unchecked.append(folder)
            folder = parent
        for checked in reversed(unchecked):
            if os.path.islink(checked):
                raise PathEscapeError(f"refusing {path!r}: {checked} is a symlink")
            self._real_folders.add(checked)

    def stat_many(self, paths: Sequence[str]) -> list[StoredFile | None]:
        """``lstat`` of each path in turn: a filesystem has no batch to gain from."""
        found: list[StoredFile | None] = []
        for path in paths:
            try:
                st = os.lstat(self._path(path))
            except (FileNotFoundError, NotADirectoryError):
                found.append(None)
                continue
            found.append(StoredFile(path, st.st_size, st.st_mtime, stat.S_ISLNK(st.st_mode)))
        return found

    def delete_files(self, paths: Sequence[str]) -> int:
        """``unlink`` of each path: a folder raises (``IsADirectoryError``) rather than go with
        everything in it."""
        deleted = 0
        for path in paths:
            full = self._path(path)
            try:
                os.unlink(full)
            except FileNotFoundError:
                continue
            deleted += 1
        return deleted

    def remove_empty_folders(self, paths: Sequence[str]) -> int:
        """``rmdir``, which the kernel refuses for a folder that is not empty: a file written
        into it at the same moment stays, and so does its folder."""
        removed = 0
        for path in paths:
            try:
                os.rmdir(self._path(path))  # never follows a symlink: ENOTDIR
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    continue
                raise
            removed += 1
        return removed

    def move(self, source: str, target: str) -> bool:
        """One ``rename``: a blob is in the tree or in the quarantine, never half in each."""
        full_source, full_target = self._path(source), self._path(target)
        if not os.path.lexists(full_source):
            return False
        if os.path.lexists(full_target):
            raise FileExistsError(f"cannot move {source} to {target}: the target exists")
        _make_folders(os.path.dirname(full_target))
        os.rename(full_source, full_target)
        return True

    def write_new(self, path: str, data: bytes) -> bool:
        """``O_CREAT | O_EXCL``: of two creators, the kernel lets exactly one succeed."""
        full = self._path(path)
        _make_folders(os.path.dirname(full))
        try:
            handle = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return True

    def replace(self, path: str, expected: bytes, data: bytes) -> bool:
        """Compare and write under an exclusive ``flock`` of the file, which every other
        ``replace`` of it waits for."""
        try:
            handle = os.open(self._path(path), os.O_RDWR | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            return False
        with os.fdopen(handle, "r+b") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            if file.read() != expected:
                return False
            file.seek(0)
            file.truncate()
            file.write(data)
        return True


def _make_folders(folder: str) -> None:
    """``os.makedirs`` with :data:`FOLDER_MODE` at every level: makedirs gives it to the
    last folder only, the others get whatever the umask leaves of 0o777."""
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for created in reversed(missing):
        # FileExistsError: made meanwhile by the registry or another regsweep
        with contextlib.suppress(FileExistsError):
            os.mkdir(created, FOLDER_MODE)
