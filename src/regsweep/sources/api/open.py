"""The one place a :class:`RegistryAccess` becomes a :class:`RegistryClient` (URL,
credentials, TLS), and discovery through it."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from regsweep.core.model import Digest, Inventory, Manifest
from regsweep.sources.api.auth import RegistryAuth
from regsweep.sources.api.client import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    RegistryClient,
    check_registry_url,
)
from regsweep.sources.api.credentials import resolve_credentials
from regsweep.sources.api.discovery import AgesNeeded, Check, discover_api
from regsweep.sources.api.tls import ssl_context
from regsweep.sources.requests import RequestCounts


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach a registry's API: where, as whom, trusting what.

    ``username`` and ``password`` None fall back to the Docker config and its credential
    helpers (see :mod:`regsweep.sources.api.credentials`). The password is kept out of
    ``repr`` so that no log or traceback prints it.
    """

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    #: do not verify the registry's TLS certificate (an explicit choice, never a fallback)
    insecure: bool = False
    #: seconds to connect, or between two reads of an answer; see RetryPolicy
    timeout: float = DEFAULT_TIMEOUT
    #: the most requests in flight at once (the window adapts below it)
    concurrency: int = DEFAULT_CONCURRENCY


def open_registry(access: RegistryAccess, counts: RequestCounts | None = None) -> RegistryClient:
    """A client for ``access.url`` (not yet pinged: ``await client.ping()``), counting the
    requests it sends into ``counts``.

    Everything that can be wrong locally (URL, credentials, certificate files) is a
    :class:`~regsweep.core.errors.UsageError` here, before any request.
    """
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
