"""The auth flow, credential sources and TLS settings, without a network."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from regsweep.core.errors import UsageError
from regsweep.sources.api import RegistryClient, RetryPolicy
from regsweep.sources.api.auth import Credentials, RegistryAuth, parse_challenge, scope_key
from regsweep.sources.api.credentials import registry_host, resolve_credentials
from regsweep.sources.api.tls import ssl_context
from tests.support.auth_servers import CertificateAuthority

URL = "https://registry.test"
BEARER = 'Bearer realm="https://auth.test/token",service="registry.test",scope="{scope}"'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenRegistry:
    """Wants a bearer token per repository and action; the realm checks basic credentials."""

    def __init__(self, lifetime: int = 300) -> None:
        self.lifetime = lifetime
        self.tokens: dict[str, str] = {}  # token -> scope
        self.log: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            self.log.append(f"token {request.url.params.get('scope')}")
            if request.headers.get("Authorization") != Credentials("u", "pw").basic():
                return httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED"}]})
            token = f"t{len(self.tokens)}"
            self.tokens[token] = request.url.params["scope"]
            return httpx.Response(200, json={"token": token, "expires_in": self.lifetime})
        repo = request.url.path.split("/")[2]
        scope = f"repository:{repo}:pull"
        self.log.append(f"{request.method} {request.url.path}")
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.get(sent) == scope:
            return httpx.Response(200, json={"name": repo, "tags": ["v1"]})
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER.format(scope=scope)})


def tags(handler: TokenRegistry, auth: RegistryAuth, *repos: str) -> list[list[str]]:
    async def main() -> list[list[str]]:
        transport = httpx.MockTransport(handler)
        async with RegistryClient(
            URL, auth=auth, transport=transport, retry=RetryPolicy(attempts=1), concurrency=1
        ) as client:
            return [await client.list_tags(r) for r in repos]

    return asyncio.run(main())


def test_bearer_flow_caches_a_token_per_repository() -> None:
    registry = TokenRegistry()
    auth = RegistryAuth(Credentials("u", "pw"))
    assert tags(registry, auth, "a", "a", "b", "a") == [["v1"]] * 4
    assert registry.log == [
        "GET /v2/a/tags/list",
        "token repository:a:pull",
        "GET /v2/a/tags/list",
        "GET /v2/a/tags/list",
        "GET /v2/b/tags/list",
        "token repository:b:pull",
        "GET /v2/b/tags/list",
        "GET /v2/a/tags/list",
    ]


def test_an_expired_token_is_fetched_again() -> None:
    registry, clock = TokenRegistry(lifetime=60), Clock()
    auth = RegistryAuth(Credentials("u", "pw"), clock=clock)
    tags(registry, auth, "a")
    clock.now += 49
    tags(registry, auth, "a")
    assert auth.tokens_fetched == 1
    clock.now += 2  # past 60 - 10 s of margin
    tags(registry, auth, "a")
    assert auth.tokens_fetched == 2


def test_a_refused_login_at_the_realm_reaches_the_caller() -> None:
    auth = RegistryAuth(Credentials("u", "wrong"))

    async def main() -> int:
        transport = httpx.MockTransport(TokenRegistry())
        async with httpx.AsyncClient(auth=auth, transport=transport) as client:
            return (await client.get(f"{URL}/v2/a/tags/list")).status_code

    assert asyncio.run(main()) == 401


def test_credentials_never_go_to_a_plain_http_realm_of_an_https_registry() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        challenge = 'Bearer realm="http://auth.test/token",service="s"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    async def main() -> int:
        auth = RegistryAuth(Credentials("u", "pw"))
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(handler)) as c:
            return (await c.get(f"{URL}/v2/")).status_code

    assert asyncio.run(main()) == 401
    assert sent == [f"{URL}/v2/"]


def test_basic_challenge_is_answered_once_then_sent_up_front() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") == Credentials("u", "pw").basic():
            return httpx.Response(200)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    async def main() -> None:
        auth = RegistryAuth(Credentials("u", "pw"))
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(handler)) as c:
            await c.get(f"{URL}/v2/")
            await c.get(f"{URL}/v2/")

    asyncio.run(main())
    basic = Credentials("u", "pw").basic()
    assert seen == [None, basic, basic]


def test_requests_sent_at_once_before_the_first_basic_challenge_all_get_through() -> None:
    """Regression: the second 401 answered while the first one's retry was under way was
    taken for "these credentials were refused", and that request failed."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # every request is in flight before any answer comes
        if request.headers.get("Authorization") == Credentials("u", "pw").basic():
            return httpx.Response(202)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    async def main() -> list[int]:
        auth = RegistryAuth(Credentials("u", "pw"))
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(handler)) as c:
            answers = await asyncio.gather(*(c.delete(f"{URL}/v2/app/x{i}") for i in range(4)))
            return [a.status_code for a in answers]

    assert asyncio.run(main()) == [202] * 4


def test_wrong_basic_credentials_are_sent_once_per_request() -> None:
    sent: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Authorization"))
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    async def main() -> int:
        auth = RegistryAuth(Credentials("u", "wrong"))
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(handler)) as c:
            return (await c.get(f"{URL}/v2/")).status_code

    assert asyncio.run(main()) == 401
    assert sent == [None, Credentials("u", "wrong").basic()]


def test_challenges_and_scope_keys() -> None:
    challenge = parse_challenge(BEARER.format(scope="repository:a/b:pull,push"))
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.params["scope"] == "repository:a/b:pull,push"
    assert parse_challenge("Negotiate abc") is None
    request = httpx.Request("DELETE", f"{URL}/v2/team/app/manifests/sha256:00")
    assert scope_key(request) == "team/app:delete"
    assert scope_key(httpx.Request("GET", f"{URL}/v2/_catalog?n=1")) == "catalog"
    assert scope_key(httpx.Request("PUT", f"{URL}/v2/a/blobs/uploads/x")) == "a:push"


def test_credentials_repr_hides_the_password() -> None:
    assert "hunter2" not in repr(Credentials("u", "hunter2"))


# -- credential sources ------------------------------------------------------------------


def docker_config(tmp_path: Path, config: dict[str, object]) -> dict[str, str]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(tmp_path), "PATH": f"{tmp_path}:{os.environ['PATH']}"}


def test_flags_win_over_docker_config(tmp_path: Path) -> None:
    env = docker_config(tmp_path, {"auths": {"registry.test:5000": {"auth": "eDp5"}}})
    found = resolve_credentials("https://registry.test:5000", username="a", password="b", env=env)
    assert found == Credentials("a", "b")


def test_a_username_without_password_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--password-stdin"):
        resolve_credentials(URL, username="a", env={})


def test_docker_config_auths_match_host_and_port(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"alice:pa:ss").decode()
    env = docker_config(
        tmp_path,
        {
            "auths": {
                "https://other.test/v1/": {"auth": base64.b64encode(b"x:y").decode()},
                "https://registry.test:5000": {"auth": encoded},
            }
        },
    )
    assert resolve_credentials("https://registry.test:5000", env=env) == Credentials(
        "alice", "pa:ss"
    )
    assert resolve_credentials("https://registry.test:5001", env=env) is None


def test_no_docker_config_is_anonymous(tmp_path: Path) -> None:
    assert resolve_credentials(URL, env={"DOCKER_CONFIG": str(tmp_path)}) is None


def helper(tmp_path: Path, name: str, answer: str, code: int = 0) -> None:
    script = tmp_path / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\nread host\n"
        f"[ \"$host\" = registry.test:5000 ] || {{ echo 'credentials not found'; exit 1; }}\n"
        f"echo '{answer}'\nexit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_cred_helpers_are_asked_for_the_host(tmp_path: Path) -> None:
    helper(tmp_path, "fake", '{"ServerURL":"x","Username":"bob","Secret":"s3"}')
    env = docker_config(tmp_path, {"credHelpers": {"registry.test:5000": "fake"}})
    assert resolve_credentials("https://registry.test:5000", env=env) == Credentials("bob", "s3")
    env = docker_config(tmp_path, {"credsStore": "fake"})
    assert resolve_credentials("https://registry.test:5000", env=env) == Credentials("bob", "s3")
    assert resolve_credentials("https://elsewhere.test", env=env) is None


def test_a_failing_helper_is_a_usage_error_without_secrets(tmp_path: Path) -> None:
    helper(tmp_path, "broken", "oops s3cret", code=3)
    env = docker_config(tmp_path, {"credsStore": "broken"})
    with pytest.raises(UsageError, match="exit code 3") as caught:
        resolve_credentials("https://registry.test:5000", env=env)
    assert "s3cret" not in str(caught.value)


def test_identity_tokens_are_refused_clearly(tmp_path: Path) -> None:
    env = docker_config(tmp_path, {"auths": {"registry.test": {"identitytoken": "abc"}}})
    with pytest.raises(UsageError, match="identity token"):
        resolve_credentials("https://registry.test", env=env)


def test_registry_host_normalises_config_keys() -> None:
    assert registry_host("https://Registry.test:5000/v1/") == "registry.test:5000"
    assert registry_host("registry.test:5000") == "registry.test:5000"
    assert registry_host("http://127.0.0.1:8080") == "127.0.0.1:8080"


# -- TLS ---------------------------------------------------------------------------------


def test_tls_files_that_cannot_be_loaded_are_usage_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(UsageError, match="--ca-cert"):
        ssl_context(ca_cert=junk)
    with pytest.raises(UsageError, match="--client-cert"):
        ssl_context(client_cert=junk)
    with pytest.raises(UsageError, match="contradict"):
        ssl_context(ca_cert=junk, insecure=True)
    with pytest.raises(UsageError, match="--client-key needs"):
        ssl_context(client_key=junk)


def test_tls_loads_a_ca_and_a_client_certificate(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    context = ssl_context(ca_cert=ca.ca_cert, client_cert=ca.client_cert, client_key=ca.client_key)
    assert context.check_hostname
    assert len(context.get_ca_certs()) == 1
