"""Registry authentication as an :class:`httpx.Auth` flow: anonymous, basic and bearer.

The flow answers the registry's ``WWW-Authenticate`` challenge (no I/O of its own: it
yields requests, httpx sends them):

- ``Basic``: resend with the credentials; from then on they are sent up front.
- ``Bearer realm,service,scope``: ask the realm for a token for that scope (with basic
  credentials when there are some, anonymously otherwise), cache it per repository and
  action until shortly before it expires, and resend. A cached token the registry
  rejects is replaced once.

Credentials only ever travel in headers, to the registry and to the realm it names, and
never to a plain-http realm of an https registry (a downgrade an attacker on the path
could ask for). Nothing here logs a header or a token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from regsweep.sources.api.credentials import Credentials

#: Tokens are dropped this many seconds before they expire, so none expires in flight.
EXPIRY_MARGIN = 10.0
#: The spec's default lifetime when the token answer gives none.
DEFAULT_TOKEN_LIFETIME = 60.0

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_SCOPED_PATH = re.compile(r"/v2/(?P<repo>.+?)/(?:manifests|blobs|tags)/")
_ACTIONS = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "basic" or "bearer"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """The first Bearer or Basic challenge of a ``WWW-Authenticate`` header."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(rest)}
    return Challenge(scheme, params)


def scope_key(request: httpx.Request) -> str:
    """What a request needs access to: ``<repository>:<action>``, ``catalog`` or ``""``.

    Tokens are cached under this key so that the second request to a repository reuses
    the token the first one obtained instead of meeting a 401 again.
    """
    path = request.url.path
    if path.startswith("/v2/_catalog"):
        return "catalog"
    match = _SCOPED_PATH.match(path)
    if match is None:
        return ""
    return f"{match['repo']}:{_ACTIONS.get(request.method, 'push')}"


class RegistryAuth(httpx.Auth):
    """Anonymous (``credentials=None``) or credentialed access to one registry."""

    requires_response_body = True

    def __init__(
        self, credentials: Credentials | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.credentials = credentials
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic = False
        self.tokens_fetched = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key = scope_key(request)
        token = self._cached(key)
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        elif self._basic and self.credentials is not None:
            request.headers["Authorization"] = self.credentials.basic()
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return
        if challenge.scheme == "basic":
            if self.credentials is None:
                return
            basic = self.credentials.basic()
            if request.headers.get("Authorization") == basic:
                return  # these very credentials were just refused
            # (a request sent before another one's challenge was answered is resent too)
            self._basic = True
            request.headers["Authorization"] = basic
            yield request
            return
        token_request = self._token_request(request, challenge)
        if token_request is None:
            return
        token_response = yield token_request
        if token_response.status_code != 200:
            return  # the caller sees the realm's refusal (401: bad credentials)
        token = self._store(key, token_response)
        if token is None:
            return
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _cached(self, key: str) -> str | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        token, expires = entry
        if self._clock() >= expires:
            del self._tokens[key]
            return None
        return token

    def _token_request(self, request: httpx.Request, challenge: Challenge) -> httpx.Request | None:
        realm = challenge.params.get("realm")
        if not realm:
            return None
        url = httpx.URL(realm)
        if url.scheme not in ("http", "https"):
            return None
        if url.scheme == "http" and request.url.scheme == "https":
            return None  # never downgrade: the realm would get the credentials in clear
        params = {k: v for k, v in challenge.params.items() if k in ("service", "scope")}
        headers = {}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.basic()
        return httpx.Request("GET", url.copy_merge_params(params), headers=headers)

    def _store(self, key: str, response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            return None
        lifetime = body.get("expires_in")
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        self.tokens_fetched += 1
        self._tokens[key] = (token, self._clock() + max(lifetime - EXPIRY_MARGIN, 1.0))
        return token
