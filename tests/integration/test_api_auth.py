"""The API client against the real registry with htpasswd basic auth, bearer tokens and TLS."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest

from regsweep.apply.outcome import Outcome
from regsweep.apply.untag import Untagger
from regsweep.core.errors import RegistryAPIError
from regsweep.core.model import Digest
from regsweep.sources.api.auth import Credentials, RegistryAuth
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.discovery import discover_api
from regsweep.sources.api.errors import RegistryAuthError, RegistryUnreachableError
from regsweep.sources.api.tls import ssl_context
from tests.conftest import RegistryFactory
from tests.support import storage
from tests.support.api_client import with_client
from tests.support.auth_servers import (
    CertificateAuthority,
    StaticBearer,
    TokenIssuer,
    htpasswd_auth,
)
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls

USER, PASSWORD = "alice", "correct horse battery"


def login(password: str = PASSWORD) -> RegistryAuth:
    return RegistryAuth(Credentials(USER, password))


def untag_old_keep_latest(client: RegistryClient, digest: str) -> Awaitable[object]:
    return Untagger(client).untag("app", "old", Digest(digest))


# -- htpasswd ----------------------------------------------------------------------------


@pytest.fixture
def basic_registry(registry_factory: RegistryFactory, tmp_path: Path) -> RegistryServer:
    return registry_factory(htpasswd_auth(tmp_path / "htpasswd", USER, PASSWORD))


def test_basic_auth_discovers_and_untags(basic_registry: RegistryServer, tmp_path: Path) -> None:
    with Pusher(basic_registry.url, auth=(USER, PASSWORD)) as pusher:
        image = pusher.push_image("app", "old")
        pusher.tag("app", "latest", image)

    async def use(client: RegistryClient) -> object:
        await client.ping()
        inventory = await discover_api(client)
        assert set(inventory.repositories["app"].tags) == {"old", "latest"}
        return await untag_old_keep_latest(client, image.digest)

    result = with_client(basic_registry.url, use, auth=login())
    assert getattr(result, "outcome", None) is Outcome.DELETED
    assert not storage.tag_exists(basic_registry.root, "app", "old")
    assert_pulls(basic_registry.host, "app", "latest", tmp_path, creds=(USER, PASSWORD))


def test_basic_auth_wrong_password_is_one_line_without_the_password(
    basic_registry: RegistryServer,
) -> None:
    with pytest.raises(RegistryAuthError, match="refused the credentials") as caught:
        with_client(basic_registry.url, lambda c: c.ping(), auth=login("s3cret-wrong"))
    message = str(caught.value)
    assert "s3cret-wrong" not in message and "\n" not in message
    with pytest.raises(RegistryAuthError, match="requires authentication"):
        with_client(basic_registry.url, lambda c: c.ping(), auth=RegistryAuth())


# -- bearer tokens -----------------------------------------------------------------------


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[TokenIssuer]:
    with TokenIssuer(tmp_path / "issuer", {USER: PASSWORD}).serving() as running:
        yield running


@pytest.fixture
def token_registry(registry_factory: RegistryFactory, issuer: TokenIssuer) -> RegistryServer:
    return registry_factory(issuer.registry_config())


def test_bearer_tokens_are_fetched_once_per_scope(
    token_registry: RegistryServer, issuer: TokenIssuer, tmp_path: Path
) -> None:
    with Pusher(token_registry.url, auth=StaticBearer(issuer.admin_token("app", "b"))) as pusher:
        image = pusher.push_image("app", "old")
        pusher.tag("app", "latest", image)
        for n in range(5):
            pusher.push_image("b", f"v{n}")
    issuer.issued.clear()
    auth = login()

    async def use(client: RegistryClient) -> object:
        await client.ping()
        inventory = await discover_api(client)
        assert set(inventory.repositories) == {"app", "b"}
        assert len(inventory.repositories["b"].tags) == 5
        return await untag_old_keep_latest(client, image.digest)

    result = with_client(token_registry.url, use, auth=auth)
    # ping, catalog, pull and push/delete per repository: a handful, not one per request
    # (the first requests of a scope may race for it: concurrency 8).
    assert all(entry["subject"] == USER for entry in issuer.issued)
    assert auth.tokens_fetched == len(issuer.issued) <= 20
    assert getattr(result, "outcome", None) is Outcome.DELETED
    assert not storage.tag_exists(token_registry.root, "app", "old")
    assert_pulls(token_registry.host, "app", "latest", tmp_path, creds=(USER, PASSWORD))


def test_bearer_wrong_password_is_a_usage_error(token_registry: RegistryServer) -> None:
    with pytest.raises(RegistryAuthError, match="refused the credentials") as caught:
        with_client(token_registry.url, lambda c: c.ping(), auth=login("s3cret-wrong"))
    assert "s3cret-wrong" not in str(caught.value)


def test_bearer_anonymous_cannot_list(token_registry: RegistryServer) -> None:
    async def use(client: RegistryClient) -> list[str]:
        await client.ping()
        return await client.list_repositories()

    with pytest.raises(RegistryAPIError, match="listing the catalog: registry answered 401"):
        with_client(token_registry.url, use, auth=RegistryAuth())


def test_expired_tokens_are_refreshed(registry_factory: RegistryFactory, tmp_path: Path) -> None:
    with TokenIssuer(tmp_path / "short", {USER: PASSWORD}, lifetime=11).serving() as issuer:
        server = registry_factory(issuer.registry_config())
        with Pusher(server.url, auth=StaticBearer(issuer.admin_token("app"))) as pusher:
            pusher.push_image("app", "v1")
        auth = login()

        async def use(client: RegistryClient) -> None:
            assert await client.head_manifest("app", "v1") is not None
            fetched = auth.tokens_fetched
            assert await client.head_manifest("app", "v1") is not None
            assert auth.tokens_fetched == fetched  # cached: valid for 11 - 10 s
            await asyncio.sleep(1.2)
            assert await client.head_manifest("app", "v1") is not None
            assert auth.tokens_fetched == fetched + 1

        with_client(server.url, use, auth=auth)


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


def tls_config(ca: CertificateAuthority) -> dict[str, Any]:
    return {"http": {"tls": {"certificate": str(ca.server_cert), "key": str(ca.server_key)}}}


def test_tls_verified_with_the_test_ca(
    registry_factory: RegistryFactory, ca: CertificateAuthority
) -> None:
    server = registry_factory(tls_config(ca))
    assert server.url.startswith("https://")
    with_client(server.url, lambda c: c.ping(), verify=ssl_context(ca_cert=ca.ca_cert))


def test_tls_untrusted_certificate_is_a_usage_error(
    registry_factory: RegistryFactory, ca: CertificateAuthority
) -> None:
    server = registry_factory(tls_config(ca))
    with pytest.raises(RegistryUnreachableError, match=r"not trusted.*--ca-cert") as caught:
        with_client(server.url, lambda c: c.ping(), verify=ssl_context())
    assert "\n" not in str(caught.value)


def test_insecure_connects_and_warns(
    registry_factory: RegistryFactory, ca: CertificateAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    server = registry_factory(tls_config(ca))
    with caplog.at_level(logging.WARNING):
        context = ssl_context(insecure=True)
    assert "NOT verified" in caplog.text
    with_client(server.url, lambda c: c.ping(), verify=context)


def test_http_url_against_a_tls_registry_says_so(
    registry_factory: RegistryFactory, ca: CertificateAuthority
) -> None:
    server = registry_factory(tls_config(ca))
    started = time.monotonic()
    with pytest.raises(RegistryUnreachableError):
        with_client(f"http://{server.host}", lambda c: c.ping())
    assert time.monotonic() - started < 10
