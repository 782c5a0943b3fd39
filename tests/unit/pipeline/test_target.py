"""The target is chosen once: storage, API, or both."""

from __future__ import annotations

from pathlib import Path

import pytest

from regsweep.core.errors import UsageError
from regsweep.pipeline.target import Mode, TargetSpec, open_target
from regsweep.sources.api.open import RegistryAccess


def registry_root(tmp_path: Path) -> Path:
    (tmp_path / "docker" / "registry" / "v2" / "repositories").mkdir(parents=True)
    (tmp_path / "docker" / "registry" / "v2" / "blobs").mkdir(parents=True)
    return tmp_path


def test_storage_alone_is_storage_mode(tmp_path: Path) -> None:
    target = open_target(TargetSpec(storage=registry_root(tmp_path)))
    assert target.mode is Mode.STORAGE
    assert target.store is not None and target.registry is None
    assert target.identity.url is None and target.identity.storage == target.store.describe()


def test_storage_and_a_url_is_both(tmp_path: Path) -> None:
    access = RegistryAccess("http://127.0.0.1:5000")
    target = open_target(TargetSpec(storage=registry_root(tmp_path), registry=access))
    assert target.mode is Mode.BOTH
    assert target.identity.url == "http://127.0.0.1:5000"


def test_a_url_alone_is_api_mode_and_opens_nothing() -> None:
    target = open_target(TargetSpec(registry=RegistryAccess("http://127.0.0.1:5000")))
    assert target.mode is Mode.API and target.store is None


def test_nothing_given_names_the_settings_to_set() -> None:
    with pytest.raises(UsageError, match="REGISTRY_DIR"):
        open_target(TargetSpec())


def test_the_password_is_not_in_the_access_repr() -> None:
    assert "hunter2" not in repr(RegistryAccess("http://127.0.0.1:5000", "ci", "hunter2"))
