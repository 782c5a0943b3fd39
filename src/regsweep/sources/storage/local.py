"""A registry storage tree in a local folder (the filesystem driver's ``rootdirectory``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from regsweep.sources.storage.store import StoredFile, check_relative


class LocalStore:
    """The filesystem driver's tree. Symlinks are listed as such and never followed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def _path(self, path: str) -> str:
        return os.path.join(self.root, check_relative(path))

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._path(path))

    def list_files(self, prefix: str) -> Iterator[StoredFile]:
        base = self._path(prefix)
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
                    stack.append((entry.path, child))
                else:
                    st = entry.stat(follow_symlinks=False)
                    yield StoredFile(child, st.st_size, st.st_mtime)

    def list_dir(self, prefix: str) -> list[str]:
        try:
            return os.listdir(self._path(prefix))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read(self, path: str) -> bytes:
        full = self._path(path)
        if os.path.islink(full):
            raise FileNotFoundError(f"{path} is a symlink; not followed")
        with open(full, "rb") as handle:
            return handle.read()

    def stat(self, path: str) -> StoredFile | None:
        try:
            st = os.lstat(self._path(path))
        except FileNotFoundError:
            return None
        return StoredFile(path, st.st_size, st.st_mtime, is_link=os.path.islink(self._path(path)))

    def delete_tree(self, prefix: str) -> bool:
        full = self._path(prefix)
        if os.path.islink(full) or os.path.isfile(full):
            os.unlink(full)
            return True
        try:
            shutil.rmtree(full)
        except FileNotFoundError:
            return False
        return True
