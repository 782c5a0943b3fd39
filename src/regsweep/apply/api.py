"""The registry API as the channel for manifest deletes, checked before the first change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from regsweep.apply.storage import ManifestDeleter
from regsweep.plan import Plan
from regsweep.settings import Settings
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.open import open_registry


async def check_registry(settings: Settings, plan: Plan) -> None:
    """Ping the registry and probe its deletes before regsweep writes anything at all.

    A wrong URL or login, or a registry with deletes disabled, is then an exit-2 error
    that left no trace: no lock taken, no journal started, nothing deleted.
    """
    if settings.registry_url is None or not plan.actions:
        return
    async with open_registry(settings) as client:
        await _ready(client, plan.actions[0].repository)


@asynccontextmanager
async def registry_deleter(
    settings: Settings, probe_repository: str | None
) -> AsyncIterator[ManifestDeleter | None]:
    """A client that deletes manifests through the registry, or None without a URL.

    Deleting through the API lets the registry do it itself (and clear its caches). It
    logs in and trusts certificates as API mode does. Before yielding, the registry is
    pinged and asked to delete a digest nobody has: a registry with
    ``storage.delete.enabled: false`` answers 405 there, and the run stops with the config
    line to add before any tag was touched.
    """
    if settings.registry_url is None:
        yield None
        return
    async with open_registry(settings) as client:
        await _ready(client, probe_repository)
        yield client


async def _ready(client: RegistryClient, probe_repository: str | None) -> None:
    await client.ping()
    if probe_repository is not None:
        await client.check_delete_enabled(probe_repository)
