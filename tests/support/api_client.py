"""One coroutine run against a RegistryClient, in an event loop of its own.

Tests are synchronous and the client is not: every test that talks to a registry through
regsweep's client opens one here, on a real registry's URL (integration) or on an
``httpx.MockTransport`` whose handler plays the registry (unit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.retry import RetryPolicy

T = TypeVar("T")
#: What plays the registry: answers each request, at once or after an ``await``.
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]

MOCK_URL = "http://registry.test"
#: A handler's answer is final: a test that wants retries asks for them with its own policy.
NO_RETRY = RetryPolicy(attempts=1)


def with_client(url: str, use: Callable[[RegistryClient], Awaitable[T]], **options: Any) -> T:
    """``use(client)`` with a RegistryClient on ``url``; ``options`` go to the client."""

    async def main() -> T:
        async with RegistryClient(url, **options) as client:
            return await use(client)

    return asyncio.run(main())


def with_mock_client(
    handler: Handler,
    use: Callable[[RegistryClient], Awaitable[T]],
    *,
    url: str = MOCK_URL,
    retry: RetryPolicy = NO_RETRY,
    **options: Any,
) -> T:
    """``use(client)`` with a RegistryClient whose every request ``handler`` answers."""
    return with_client(url, use, transport=httpx.MockTransport(handler), retry=retry, **options)
