"""The write probe beside the lock: a storage that takes files but refuses deletes is
refused before anything is deleted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from regsweep.sources.storage.local import LocalStore
from regsweep.state.lock import NotWritableError, storage_lock
from regsweep.state.writable import check_writable

NOW = datetime(2026, 6, 1, tzinfo=UTC)


class NoDeletes(LocalStore):
    """A bucket policy with PutObject and without DeleteObject, on a folder."""

    def delete_files(self, paths: Sequence[str]) -> int:
        raise PermissionError(f"{paths[0]}: AccessDenied")


def test_a_writable_storage_keeps_only_the_lock(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with storage_lock(store, now=NOW, command="run"):
        check_writable(store)
        assert sorted(p.name for p in (tmp_path / "regsweep").iterdir()) == ["lock"]
    assert list(tmp_path.iterdir()) == []


def test_a_storage_refusing_deletes_is_refused_with_the_way_out(tmp_path: Path) -> None:
    store = NoDeletes(tmp_path)
    with pytest.raises(NotWritableError) as raised:
        check_writable(store)
    assert str(raised.value).startswith(f"cannot write to the registry's storage {tmp_path}: ")
    assert str(raised.value).endswith(
        "AccessDenied; run regsweep as a user who may change it, or --dry-run to see the plan only"
    )
    assert raised.value.exit_code == 2
