"""Choosing and checking the storage a run reads and writes."""

from __future__ import annotations

from pathlib import Path

from regsweep.core.errors import UsageError
from regsweep.sources.storage.discovery import require_registry
from regsweep.sources.storage.local import LocalStore
from regsweep.sources.storage.s3_location import S3Location, S3Options
from regsweep.sources.storage.store import Store


def open_storage(location: Path | str | None, *, s3: S3Options | None = None) -> Store:
    """The registry's storage, a folder or ``s3://bucket/prefix``, checked to be a registry
    root before anything reads it."""
    if location is None:
        raise UsageError(
            "no registry storage given: set --registry-dir or REGISTRY_DIR to the registry's "
            "data folder (storage.filesystem.rootdirectory, /var/lib/registry in registry:2), "
            "or --storage s3://BUCKET/ROOTDIRECTORY for the s3 driver"
        )
    if isinstance(location, str) and location.startswith("s3://"):
        return _open_s3(location, s3 or S3Options())
    registry_dir = Path(location)
    if not registry_dir.is_dir():
        raise UsageError(f"registry folder {registry_dir} does not exist or is not a folder")
    store = LocalStore(registry_dir.resolve())
    require_registry(store)
    return store


def _open_s3(url: str, options: S3Options) -> Store:
    """A bucket that cannot be read (no such bucket, wrong endpoint, no credentials) is a
    usage error: nothing has been changed, and the fix is in the settings."""
    # imported here, the one place a bucket is opened: obstore costs a command on a local
    # folder about 8 MiB of memory for nothing
    from regsweep.sources.storage.s3 import S3Store

    try:
        store = S3Store(S3Location.parse(url), options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        require_registry(store)
    except OSError as exc:
        raise UsageError(
            f"cannot read {store.describe()}: {exc} (check --s3-endpoint, --s3-region and "
            "the AWS credentials in the environment or profile)"
        ) from None
    return store
