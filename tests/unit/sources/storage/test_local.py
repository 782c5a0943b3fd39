"""LocalStore: what it reads, writes, moves and deletes, and never through a symlink."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from regsweep.sources.storage.local import LocalStore
from regsweep.sources.storage.store import PathEscapeError


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    (tmp_path / "root" / "a" / "b").mkdir(parents=True)
    (tmp_path / "root" / "a" / "b" / "f").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f").write_bytes(b"secret")
    (tmp_path / "root" / "a" / "escape").symlink_to(tmp_path / "outside")
    return LocalStore(tmp_path / "root")


def test_stat_many_reports_absent_and_links(store: LocalStore) -> None:
    found = store.stat_many(["a/b/f", "a/b/missing", "a/b/f/below", "a/escape"])
    assert found[0] is not None and found[0].size == 1 and not found[0].is_link
    assert found[1] is None and found[2] is None
    assert found[3] is not None and found[3].is_link


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.stat_many(["a/escape/f"]),
        lambda s: s.delete_files(["a/escape/f"]),
        lambda s: s.remove_empty_folders(["a/escape/x"]),
        lambda s: s.move("a/escape/f", "a/b/g"),
        lambda s: s.move("a/b/f", "a/escape/g"),
        lambda s: s.write_new("a/escape/new", b"x"),
    ],
)
@pytest.mark.parametrize("listed_first", [False, True])
def test_never_acts_through_a_symlinked_folder(
    store: LocalStore, tmp_path: Path, call: Callable[[LocalStore], object], listed_first: bool
) -> None:
    if listed_first:  # what a listing shows is trusted later, the symlinks it shows are not
        assert sorted(store.list_dir("a")) == ["b", "escape"]
    with pytest.raises(PathEscapeError):
        call(store)
    assert sorted(os.listdir(tmp_path / "outside")) == ["f"]


def test_a_listing_does_not_enter_the_folders_it_is_told_to_skip(store: LocalStore) -> None:
    (store.root / "a" / "c").mkdir()
    (store.root / "a" / "c" / "g").write_bytes(b"y")
    everything = {f.path for f in store.list_files("a")}
    assert everything == {"a/b/f", "a/c/g", "a/escape"}
    skipped = {f.path for f in store.list_files("a", lambda folder: folder == "a/c")}
    assert skipped == {"a/b/f", "a/escape"}


def test_delete_files_skips_absent_and_refuses_folders(store: LocalStore) -> None:
    assert store.delete_files(["a/b/f", "a/b/f", "nope"]) == 1
    with pytest.raises(IsADirectoryError):
        store.delete_files(["a/b"])


def test_remove_empty_folders_keeps_anything_with_content(store: LocalStore) -> None:
    root = store.root
    (root / "e" / "f" / "g").mkdir(parents=True)
    assert store.remove_empty_folders(["a/b", "a/b/f", "e/f/g", "e/f", "e", "zz"]) == 3
    assert (root / "a" / "b" / "f").is_file() and not (root / "e").exists()
    assert store.remove_empty_folders(["a/escape"]) == 0  # a symlink is not removed as a folder
    assert (root / "a" / "escape").is_symlink()


def test_move_creates_parents_and_never_overwrites(store: LocalStore) -> None:
    assert store.move("a/b", "q/1/b")
    assert (store.root / "q" / "1" / "b" / "f").read_bytes() == b"x"
    assert not store.move("a/b", "q/2/b")
    (store.root / "c").mkdir()
    with pytest.raises(FileExistsError):
        store.move("q/1/b", "c")
    assert (store.root / "q" / "1" / "b" / "f").is_file()


def test_write_new_is_exclusive(store: LocalStore) -> None:
    assert store.write_new("x/lock", b"one")
    assert not store.write_new("x/lock", b"two")
    assert (store.root / "x" / "lock").read_bytes() == b"one"


def test_replace_is_a_compare_and_swap(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert not store.replace("lock", b"", b"new")  # absent
    assert store.write_new("lock", b"old")

    assert not store.replace("lock", b"other", b"new")
    assert store.replace("lock", b"old", b"new")
    assert not store.replace("lock", b"old", b"newer")
    assert store.read("lock") == b"new"


def test_remove_empty_folders_reraises_unexpected_errors(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: str) -> None:
        raise PermissionError(errno.EACCES, "denied", path)

    monkeypatch.setattr(os, "rmdir", refuse)
    with pytest.raises(PermissionError):
        store.remove_empty_folders(["a/b"])
