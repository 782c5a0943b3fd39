"""The one place a :class:`RegistryAccess` becomes a :class:`RegistryClient` (URL,
credentials, TLS), and discovery through it."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

from regsweep.core.model import Digest, Inventory, Manifest
from regsweep.sources.api.access import RegistryAccess, check_registry_url
from regsweep.sources.api.credentials import resolve_credentials
from regsweep.sources.api.discovery import AgesNeeded, Check, discover_api
from regsweep.sources.api.tls import ssl_context
from regsweep.sources.requests import RequestCounts

if TYPE_CHECKING:
    from regsweep.sources.api.client import RegistryClient


def open_registry(access: RegistryAccess, counts: RequestCounts | None = None) -> RegistryClient:
    """A client for ``access.url`` (not yet pinged: ``await client.ping()``), counting the
    requests it sends into ``counts``.

    Everything that can be wrong locally (URL, credentials, certificate files) is a
    :class:`~regsweep.core.errors.UsageError` here, before any request.
    """
    # imported here, where a client is made: every command imports this module (discovery
    # and apply reach the API through it), and httpx costs a run on storage about 4 MiB
    from regsweep.sources.api.auth import RegistryAuth
    from regsweep.sources.api.client import RegistryClient

    url = check_registry_url(access.url)
    credentials = resolve_credentials(url, username=access.username, password=access.password)
    tls_options = (access.ca_cert, access.client_cert, access.client_key)
    verify: ssl.SSLContext | bool = True
    if url.startswith("https://") or access.insecure or any(tls_options):
        verify = ssl_context(
            ca_cert=access.ca_cert,
            client_cert=access.client_cert,
            client_key=access.client_key,
            insecure=access.insecure,
        )
    return RegistryClient(
        url,
        auth=RegistryAuth(credentials),
        verify=verify,
        concurrency=access.concurrency,
        timeout=access.timeout,
        counts=counts,
    )


async def discover_registry(
    access: RegistryAccess,
    *,
    include: Callable[[str], bool] | None = None,
    repositories: Collection[str] | None = None,
    progress: Callable[[str], None] | None = None,
    check: Check | None = None,
    ages_needed: AgesNeeded | None = None,
    known: Mapping[Digest, Manifest] | None = None,
    counts: RequestCounts | None = None,
) -> Inventory:
    """Ping the registry (bad URL, TLS or login: exit 2 here), then discover it over the API
    (see :func:`~regsweep.sources.api.discovery.discover_api`)."""
    async with open_registry(access, counts) as client:
        await client.ping()
        return await discover_api(
            client,
            include=include,
            repositories=repositories,
            progress=progress,
            check=check,
            ages_needed=ages_needed,
            known=known,
        )
