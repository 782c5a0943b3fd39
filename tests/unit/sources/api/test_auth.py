"""The auth flow (bearer tokens, basic challenges), without a network."""

from __future__ import annotations

import asyncio

import httpx

from regsweep.sources.api.auth import Credentials, RegistryAuth, parse_challenge, scope_key
from regsweep.sources.api.client import RegistryClient
from tests.support.api_client import with_mock_client

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
    async def use(client: RegistryClient) -> list[list[str]]:
        return [await client.list_tags(r) for r in repos]

    return with_mock_client(handler, use, url=URL, auth=auth, concurrency=1)


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
