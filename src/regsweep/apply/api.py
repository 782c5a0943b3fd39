"""The registry API as the channel for manifest deletes, checked before the first change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from regsweep.apply.storage import ManifestDeleter
from regsweep.settings import Settings
from regsweep.sources.api.client import RegistryClient


@asynccontextmanager
async def registry_deleter(
    settings: Settings, probe_repository: str | None
) -> AsyncIterator[ManifestDeleter | None]:
    """A client that deletes manifests through the registry, or None without a URL.

    Deleting through the API lets the registry do it itself (and clear its caches). Before
    yielding, the registry is pinged and asked to delete a digest nobody has: a registry
    with ``storage.delete.enabled: false`` answers 405 there, and the run stops with the
    config line to add before any tag was touched.
    """
    if settings.registry_url is None:
        yield None
        return
    async with RegistryClient(settings.registry_url, concurrency=settings.concurrency) as client:
        await client.ping()
        if probe_repository is not None:
            await client.check_delete_enabled(probe_repository)
        yield client
