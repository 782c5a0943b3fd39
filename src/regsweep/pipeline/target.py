"""What a run works on, chosen once: the registry's storage, its API, or both."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from regsweep.plan.file import RegistryIdentity
from regsweep.sources.api.access import RegistryAccess
from regsweep.sources.storage.open import open_storage
from regsweep.sources.storage.s3_location import S3Options
from regsweep.sources.storage.store import Store


class Mode(Enum):
    """Where discovery reads and apply writes."""

    #: storage only: true push times, fast reads; manifests deleted in the storage
    STORAGE = "storage"
    #: storage read and written, manifest deletes through the API (the registry clears
    #: its own caches)
    BOTH = "storage+api"
    #: the API only (``--registry-url`` without storage): any OCI registry, ages are
    #: build times
    API = "api"


@dataclass(frozen=True)
class TargetSpec:
    """Where the registry is, before anything is opened."""

    #: a folder (the driver's rootdirectory) or ``s3://bucket/rootdirectory``
    storage: str | Path | None = None
    s3: S3Options = field(default_factory=S3Options)
    registry: RegistryAccess | None = None


@dataclass(frozen=True)
class Target:
    """An opened registry: its storage (checked to be a registry) and how to reach its API."""

    mode: Mode
    store: Store | None
    registry: RegistryAccess | None

    @property
    def identity(self) -> RegistryIdentity:
        """Which registry this is, as plan files and journals name it."""
        return RegistryIdentity(
            self.store.describe() if self.store is not None else None,
            self.registry.url if self.registry is not None else None,
        )


def open_target(spec: TargetSpec) -> Target:
    """Open the storage when it is given, else use the API alone.

    Storage is preferred whenever it is given: it has true push times and is read far
    faster; the API then only carries out manifest deletes.
    """
    if spec.storage is None and spec.registry is not None:
        return Target(Mode.API, None, spec.registry)
    return open_storage_target(spec)


def open_storage_target(spec: TargetSpec) -> Target:
    """A target with storage, checked to be a registry root (``regsweep gc`` needs one)."""
    store = open_storage(spec.storage, s3=spec.s3)
    return Target(Mode.STORAGE if spec.registry is None else Mode.BOTH, store, spec.registry)
