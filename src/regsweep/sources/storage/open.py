"""Choosing and checking the storage a run reads and writes."""

from __future__ import annotations

from pathlib import Path

from regsweep.errors import UsageError
from regsweep.sources.storage.discovery import require_registry
from regsweep.sources.storage.local import LocalStore
from regsweep.sources.storage.store import Store


def open_storage(registry_dir: Path | None) -> Store:
    """The registry's storage, checked to be a registry root before anything reads it."""
    if registry_dir is None:
        raise UsageError(
            "no registry storage given: set --registry-dir or REGISTRY_DIR to the registry's "
            "data folder (storage.filesystem.rootdirectory, /var/lib/registry in registry:2)"
        )
    if not registry_dir.is_dir():
        raise UsageError(f"registry folder {registry_dir} does not exist or is not a folder")
    store = LocalStore(registry_dir.resolve())
    require_registry(store)
    return store
