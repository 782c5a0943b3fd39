"""The one place settings become a :class:`RegistryClient` (URL, credentials, TLS), and
discovery through it, for the commands' API mode (``--registry-url`` without storage)."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from regsweep.core.errors import UsageError
from regsweep.core.model import Inventory
from regsweep.settings import Settings
from regsweep.sources.api.auth import RegistryAuth
from regsweep.sources.api.client import RegistryClient, check_registry_url
from regsweep.sources.api.credentials import resolve_credentials
from regsweep.sources.api.discovery import discover_api
from regsweep.sources.api.tls import ssl_context


def open_registry(settings: Settings) -> RegistryClient:
    """A client for ``settings.registry_url`` (not yet pinged: ``await client.ping()``).

    Everything that can be wrong locally (URL, credentials, certificate files) is a
    :class:`UsageError` here, before any request.
    """
    if settings.registry_url is None:
        raise UsageError(
            "no registry given: set --registry-url (REGISTRY_URL) to the registry's API, "
            "or --registry-dir (REGISTRY_DIR) to its storage folder"
        )
    url = check_registry_url(settings.registry_url)
    password = settings.registry_password
    credentials = resolve_credentials(
        url,
        username=settings.registry_username,
        password=password.get_secret_value() if password is not None else None,
    )
    tls_options = (
        settings.registry_ca_cert,
        settings.registry_client_cert,
        settings.registry_client_key,
    )
    verify: ssl.SSLContext | bool = True
    if url.startswith("https://") or settings.registry_insecure or any(tls_options):
        verify = ssl_context(
            ca_cert=settings.registry_ca_cert,
            client_cert=settings.registry_client_cert,
            client_key=settings.registry_client_key,
            insecure=settings.registry_insecure,
        )
    return RegistryClient(
        url,
        auth=RegistryAuth(credentials),
        verify=verify,
        concurrency=settings.concurrency,
        timeout=settings.registry_timeout,
    )


async def discover_registry(
    settings: Settings,
    *,
    include: Callable[[str], bool] | None = None,
    progress: Callable[[str], None] | None = None,
    check_blobs: bool = False,
) -> Inventory:
    """Ping the registry (bad URL, TLS or login: exit 2 here), then discover it over the API."""
    async with open_registry(settings) as client:
        await client.ping()
        return await discover_api(
            client, include=include, progress=progress, check_blobs=check_blobs
        )
