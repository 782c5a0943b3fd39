"""The registry API as the channel for manifest deletes, checked before the first change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from regsweep.apply.storage import ManifestDeleter
from regsweep.plan.planner import Plan
from regsweep.sources.api.access import RegistryAccess
from regsweep.sources.api.open import open_registry
from regsweep.sources.requests import RequestCounts


async def check_registry(
    access: RegistryAccess, plan: Plan, *, api_mode: bool, counts: RequestCounts | None = None
) -> None:
    """Ping the registry and probe its deletes before regsweep writes anything at all.

    A wrong URL or login, or a registry with deletes disabled, is then an exit-2 error
    that left no trace: no lock taken, no journal started, nothing deleted. The probe
    deletes a digest nobody has: a registry with ``storage.delete.enabled: false``
    answers 405, and the error names the config line to add. With storage, only manifest
    deletes go through the API (untags are done on storage): no manifest delete, no probe.
    This is the only probe of a run: the throw-away untag method relies on it.
    """
    deleting = plan.actions if api_mode else plan.manifest_deletes
    async with open_registry(access, counts) as client:
        await client.ping()
        if deleting:
            await client.check_delete_enabled(deleting[0].repository)


@asynccontextmanager
async def registry_deleter(
    access: RegistryAccess | None, counts: RequestCounts | None = None
) -> AsyncIterator[ManifestDeleter | None]:
    """A client that deletes manifests through the registry, or None without a URL.

    Deleting through the API lets the registry do it itself (and clear its caches). It
    logs in and trusts certificates as API mode does. The caller has run
    :func:`check_registry` before anything was written.
    """
    if access is None:
        yield None
        return
    async with open_registry(access, counts) as client:
        yield client
