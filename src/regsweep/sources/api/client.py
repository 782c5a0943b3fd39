"""An async client for the OCI distribution API, made for cleaning registries.

One :class:`httpx.AsyncClient` (pooled keep-alive connections) behind an adaptive window
of requests in flight (:mod:`~regsweep.sources.api.pace`), so a large registry is read as
fast as it answers without overloading it; every request is counted by kind
(:mod:`~regsweep.sources.api.budget`).

Every manifest request sends all four manifest media types and every digest is computed
from the bytes received: a registry that converts or substitutes a manifest (distribution
2.8 serves the linux/amd64 child of a list to a client that only accepts the Docker v2
type) would otherwise hand us a digest whose deletion breaks a multi-arch image.
"""

from __future__ import annotations

import contextvars
import ssl
import time
from types import TracebackType
from typing import NamedTuple

import httpx
import sniffio
import stamina

from regsweep.core import mediatypes
from regsweep.core.errors import NotARegistryError, OperationError, RegistryAPIError
from regsweep.core.mediatypes import MANIFEST_ACCEPT
from regsweep.core.model import Digest, parse_digest, sha256_digest
from regsweep.core.names import is_repository_name, is_tag_name
from regsweep.core.pulls import USER_AGENT_PRODUCT
from regsweep.core.version import VERSION
from regsweep.sources.api.access import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, check_registry_url
from regsweep.sources.api.auth import RegistryAuth
from regsweep.sources.api.budget import RequestKind, api_counts, request_kind
from regsweep.sources.api.errors import (
    MalformedAnswerError,
    RegistryAuthError,
    RegistryUnreachableError,
    TagDeleteUnsupportedError,
    api_error,
    delete_disabled,
    describe_request,
    oci_error,
    transport_error,
    transport_reason,
)
from regsweep.sources.api.pace import AdaptiveLimit
from regsweep.sources.api.pagination import PAGE_SIZE, PageGuard, next_page
from regsweep.sources.api.retry import (
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    RetryableAnswer,
    RetryPolicy,
)
from regsweep.sources.requests import RequestCounts

#: A digest no manifest can have (sha256 of nothing is the empty blob, never a manifest):
#: deleting it changes nothing and the answer tells whether deletes are enabled.
_PROBE_DIGEST = "sha256:" + "0" * 64
#: Requests in flight at first, from where the window finds the registry's pace.
INITIAL_CONCURRENCY = 4


class ManifestBytes(NamedTuple):
    """A manifest as served: digest computed from ``raw``, its media type and the bytes."""

    digest: Digest
    media_type: str
    raw: bytes


class _Request(NamedTuple):
    """What every attempt of one request sends."""

    method: str
    path: str | httpx.URL
    headers: dict[str, str] | None
    content: bytes | None
    params: dict[str, str] | None
    follow_redirects: bool


class ManifestHead(NamedTuple):
    """What a HEAD tells about a manifest without its body."""

    digest: Digest
    media_type: str
    size: int


def manifest_path(repository: str, reference: str) -> str:
    """``/v2/<name>/manifests/<tag or digest>``; names are checked so none escapes the path."""
    return f"{_repository_path(repository)}/manifests/{_reference(reference)}"


def _repository_path(repository: str) -> str:
    if not is_repository_name(repository):
        raise ValueError(f"invalid repository name {repository!r}")
    return f"/v2/{repository}"


def _reference(reference: str) -> str:
    if reference.startswith("sha256:"):
        return parse_digest(reference)
    if not is_tag_name(reference):
        raise ValueError(f"invalid tag or digest {reference!r}")
    return reference


class RegistryClient:
    """Talk to one registry. Use as ``async with RegistryClient(url) as client:``.

    ``auth`` is an :class:`httpx.Auth` (see :mod:`regsweep.sources.api.auth`); ``verify`` an
    SSL context (see :mod:`regsweep.sources.api.tls`), ``True`` for the system CAs, or
    ``False`` (``--insecure``). ``concurrency`` is the most requests in flight at once.
    ``counts`` receives every request sent (shared by the clients of one step of a run).
    ``transport`` replaces the network, for tests.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: httpx.Auth | None = None,
        verify: ssl.SSLContext | bool = True,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        counts: RequestCounts | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = check_registry_url(url)
        self._retry = retry or RetryPolicy()
        self.pace = AdaptiveLimit(
            initial=min(INITIAL_CONCURRENCY, concurrency), ceiling=concurrency
        )
        self.counts = counts if counts is not None else api_counts()
        self._opened = 0.0
        self._loop_named: contextvars.Token[str | None] | None = None
        # trust_env=False: a proxy, .netrc or SSL_CERT_FILE from the environment must not
        # silently change which server (and which credentials) regsweep deletes with.
        self._http = httpx.AsyncClient(
            base_url=self.url,
            auth=auth,
            verify=verify,
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            # named, so that its reads are not mistaken for pulls (regsweep.core.pulls)
            headers={"User-Agent": f"{USER_AGENT_PRODUCT}/{VERSION}"},
        )
        self._http._cookies = _SetCookies()  # see _SetCookies

    @property
    def requests_sent(self) -> int:
        return self.counts.total

    async def __aenter__(self) -> RegistryClient:
        # httpcore asks anyio, which asks sniffio, which event loop runs at every lock,
        # timeout and checkpoint (a dozen times a request, 3% of the client's CPU on
        # loopback, measured); this client runs on asyncio only, so it says so once, for
        # the tasks started from here on (contextvars are copied into each new task)
        self._loop_named = sniffio.current_async_library_cvar.set("asyncio")
        await self._http.__aenter__()
        self._opened = time.monotonic()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.__aexit__(exc_type, exc, tb)
        self.counts.seconds += time.monotonic() - self._opened
        if self._loop_named is not None:
            sniffio.current_async_library_cvar.reset(self._loop_named)
            self._loop_named = None

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the API ------------------------------------------------------------------------

    async def ping(self) -> None:
        """``GET /v2/``: prove the URL is a reachable registry and the credentials work.

        Called before anything else, so each failure is a :class:`UsageError` (exit 2,
        nothing changed) in one line: unreachable, TLS refused, not a registry, bad login.
        """
        try:
            response = await self._send("GET", "/v2/", connect_errors=False)
        except httpx.TransportError as exc:
            raise RegistryUnreachableError(transport_reason(exc, self.url)) from None
        if response.status_code == 200:
            if _is_web_page(response):
                raise NotARegistryError(
                    f"{self.url} is not a registry: GET /v2/ answered a web page (is the URL "
                    "right, or is a proxy or login page in front of the registry?)"
                )
            return
        code, message = oci_error(response)
        if response.status_code == 401:
            auth = self._http.auth
            if auth is None or (isinstance(auth, RegistryAuth) and auth.credentials is None):
                raise RegistryAuthError(
                    f"{self.url} requires authentication: pass --username and --password-stdin "
                    "(or set REGISTRY_USERNAME/REGISTRY_PASSWORD, or docker login)"
                )
            raise RegistryAuthError(
                f"{self.url} refused the credentials (401 {code or 'UNAUTHORIZED'}): "
                "wrong username or password?"
            )
        if response.status_code == 403:
            raise RegistryAuthError(f"{self.url} denied access (403 {code or 'DENIED'})")
        if response.status_code == 404:
            raise NotARegistryError(
                f"{self.url} is not a registry: GET /v2/ answered 404 (is the URL right?)"
            )
        raise RegistryUnreachableError(
            f"{self.url}: GET /v2/ answered {response.status_code}"
            + (f" {code}" if code else "")
            + (f": {message}" if message else "")
        )

    async def get_manifest(self, repository: str, reference: str) -> ManifestBytes | None:
        """The manifest under a tag or digest; ``None`` when the registry does not have it.

        The digest is computed from the bytes; a digest reference whose bytes hash to
        something else, or a ``Docker-Content-Digest`` that disagrees with the bytes, is an
        error: both mean the registry converted the manifest, and acting on a converted
        digest deletes the wrong thing.
        """
        path = manifest_path(repository, reference)
        response = await self._request("GET", path, headers={"Accept": MANIFEST_ACCEPT})
        if _is_unknown(response):
            return None
        if response.status_code != 200:
            raise api_error(response)
        digest = sha256_digest(response.content)
        claimed = response.headers.get("Docker-Content-Digest")
        media_type = _media_type(response)
        if mediatypes.is_schema1(media_type) and claimed is not None:
            # A signed schema1 digest covers the payload without its signatures.
            digest = parse_digest(claimed)
        expected = reference if reference.startswith("sha256:") else claimed
        if expected is not None and expected != digest:
            raise RegistryAPIError(
                f"{describe_request(response.request)}: the bytes served hash to {digest}, "
                f"not {expected} (converted manifest?); refusing to act on it",
                status=response.status_code,
            )
        return ManifestBytes(digest, media_type, response.content)

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead | None:
        """Digest, media type and size of a tag or digest; ``None`` when it does not exist.

        Used to re-resolve a tag just before acting on it. A registry that sends no
        ``Docker-Content-Digest`` is asked with GET, so the digest is still computed from the
        bytes rather than guessed.
        """
        path = manifest_path(repository, reference)
        response = await self._request("HEAD", path, headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise api_error(response)
        claimed = response.headers.get("Docker-Content-Digest")
        if claimed is None:
            fetched = await self.get_manifest(repository, reference)
            if fetched is None:
                return None
            return ManifestHead(fetched.digest, fetched.media_type, len(fetched.raw))
        try:
            digest = parse_digest(claimed)
        except ValueError:
            raise RegistryAPIError(
                f"{describe_request(response.request)}: unusable Docker-Content-Digest "
                f"{claimed[:80]!r}",
                status=response.status_code,
            ) from None
        size = int(response.headers.get("Content-Length", "-1") or -1)
        return ManifestHead(digest, _media_type(response), size)

    async def delete_manifest(self, repository: str, digest: Digest) -> bool:
        """``DELETE /v2/<name>/manifests/<digest>``: True when deleted, False when already gone.

        Beware what the registry does: it also removes every tag of ``repository`` that
        points at ``digest``. Callers delete by digest only what no kept tag points at.
        Raises :class:`DeleteDisabledError` on 405 and :class:`RegistryAPIError` otherwise.
        """
        path = manifest_path(repository, parse_digest(digest))
        response = await self._request("DELETE", path)
        if response.status_code == 202:
            return True
        if _is_unknown(response):
            return False
        if response.status_code == 405:
            raise delete_disabled(response)
        raise api_error(response)

    async def check_delete_enabled(self, repository: str) -> None:
        """Raise :class:`DeleteDisabledError` unless the registry accepts DELETE; changes nothing.

        Deletes a digest no manifest can have: 404 means deletes are enabled, 405 that they
        are not. Run it before the first real deletion so a registry with deletes disabled
        stops the run before anything changed (not after some tags were re-pointed).
        """
        path = manifest_path(repository, _PROBE_DIGEST)
        response = await self._request("DELETE", path)
        if response.status_code == 405:
            raise delete_disabled(response)
        if response.status_code not in (202, 404):
            raise api_error(response)

    async def list_repositories(self) -> list[str]:
        """Every repository name in the catalog, following ``Link`` pages."""
        return await self._list("/v2/_catalog", "repositories", "the catalog")

    async def list_tags(self, repository: str) -> list[str]:
        """Every tag of ``repository``; empty for ``"tags": null`` and for 404 NAME_UNKNOWN.

        distribution keeps listing a repository whose tags were all deleted (``null``) and
        one that only holds mounted blobs (404): both simply have no tags.
        """
        path = f"{_repository_path(repository)}/tags/list"
        return await self._list(path, "tags", f"tags of {repository}")

    async def list_referrers(self, repository: str, digest: Digest) -> list[Digest] | None:
        """The referrers of a manifest (``GET /v2/<name>/referrers/<digest>``), following pages.

        ``None`` when the registry has no referrers API: the OCI spec forbids a registry that
        has it to answer 404, and distribution 2.8 answers exactly that (its referrers are
        found through the referrers tag schema instead, as tags).
        """
        path = f"{_repository_path(repository)}/referrers/{parse_digest(digest)}"
        guard = PageGuard(f"referrers of {repository}@{digest}")
        url: str | httpx.URL = path
        found: list[Digest] = []
        while True:
            response = await self._request("GET", url, headers={"Accept": mediatypes.OCI_INDEX})
            if response.status_code == 404 and not guard.seen:
                return None
            if response.status_code != 200:
                raise api_error(response)
            found.extend(_descriptor_digests(response))
            following = next_page(response)
            if following is None:
                return found
            guard.check(following)
            url = following

    async def get_blob(self, repository: str, digest: Digest, *, max_size: int) -> bytes:
        """A blob's bytes (an image config), checked against its digest.

        Redirects are followed (object-storage backends send blobs from elsewhere); httpx
        drops the Authorization header when a redirect leaves the registry's origin.
        """
        path = f"{_repository_path(repository)}/blobs/{parse_digest(digest)}"
        response = await self._request("GET", path, follow_redirects=True)
        if response.status_code != 200:
            raise api_error(response)
        if len(response.content) > max_size:
            raise RegistryAPIError(f"{path}: blob larger than {max_size} bytes")
        if sha256_digest(response.content) != digest:
            raise RegistryAPIError(f"{path}: the bytes served do not hash to {digest}")
        return response.content

    async def head_blob(self, repository: str, digest: Digest) -> bool:
        """Whether ``repository`` serves the blob (what a pull of it needs)."""
        path = f"{_repository_path(repository)}/blobs/{parse_digest(digest)}"
        response = await self._request("HEAD", path, follow_redirects=True)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise api_error(response)

    async def put_manifest(
        self, repository: str, reference: str, raw: bytes, media_type: str
    ) -> Digest:
        """PUT ``raw`` under a tag or digest; return its digest (computed from ``raw``)."""
        path = manifest_path(repository, reference)
        response = await self._request(
            "PUT", path, content=raw, headers={"Content-Type": media_type}
        )
        if response.status_code != 201:
            raise api_error(response)
        return sha256_digest(raw)

    async def upload_blob(self, repository: str, data: bytes) -> Digest:
        """Upload a small blob: POST to start, PUT to the Location with ``digest=``.

        Two steps because distribution 2.8 ignores the body of a one-shot ``POST ?digest=``.
        The Location may already carry a query (upload state): ``digest`` is added to it.
        """
        digest = sha256_digest(data)
        started = await self._request("POST", f"{_repository_path(repository)}/blobs/uploads/")
        if started.status_code != 202 or "Location" not in started.headers:
            raise api_error(started)
        location = started.url.join(started.headers["Location"])
        if (location.scheme, location.host, location.port) != (
            started.url.scheme,
            started.url.host,
            started.url.port,
        ):
            raise RegistryAPIError(f"upload to {repository}: Location on another origin")
        finished = await self._request(
            "PUT",
            location.copy_merge_params({"digest": digest}),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if finished.status_code == 201:
            return digest
        if _is_upload_unknown(finished) and await self.head_blob(repository, digest):
            # A retried PUT whose first attempt completed the upload (its answer was lost)
            # finds the upload gone; the blob being there is what the upload was for.
            return digest
        raise api_error(finished)

    async def delete_blob(self, repository: str, digest: Digest) -> bool:
        """Unlink a blob from ``repository``: True when deleted, False when already gone."""
        path = f"{_repository_path(repository)}/blobs/{parse_digest(digest)}"
        response = await self._request("DELETE", path)
        if response.status_code == 202:
            return True
        if response.status_code == 404:
            return False
        if response.status_code == 405:
            raise delete_disabled(response)
        raise api_error(response)

    async def delete_tag(self, repository: str, tag: str) -> bool:
        """``DELETE /v2/<name>/manifests/<tag>``: untag by name, sparing sibling tags.

        True when deleted, False when the tag did not exist. Registries without it answer
        400 DIGEST_INVALID (distribution 2.x), 400/405 UNSUPPORTED or 405: that raises
        :class:`TagDeleteUnsupportedError`, so callers can fall back to another method.
        """
        if tag.startswith("sha256:"):
            raise ValueError(f"{tag!r} is a digest, not a tag")
        response = await self._request("DELETE", manifest_path(repository, tag))
        if response.status_code in (200, 202, 204):
            return True
        if _is_unknown(response):
            return False
        code, _ = oci_error(response)
        if response.status_code == 405 or (
            response.status_code == 400 and code in ("DIGEST_INVALID", "UNSUPPORTED")
        ):
            error = api_error(response, f"DELETE tag {repository}:{tag}")
            raise TagDeleteUnsupportedError(str(error), status=error.status, code=error.code)
        raise api_error(response)

    # -- plumbing -----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str | httpx.URL,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Send with retries; a failure to reach the registry becomes an OperationError."""
        try:
            return await self._send(
                method,
                path,
                headers=headers,
                content=content,
                params=params,
                follow_redirects=follow_redirects,
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, self.url) from None

    async def _send(
        self,
        method: str,
        path: str | httpx.URL,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        follow_redirects: bool = False,
        connect_errors: bool = True,
    ) -> httpx.Response:
        """One request, retried on 429/5xx/transport errors when ``method`` is idempotent.

        After the last attempt the last error answer is returned for the caller to map.

        The first attempt is sent as it is: a stamina retry context costs about 5% of the
        client's CPU per request on loopback (measured), and nearly every request gets
        through the first time. A failure the policy retries enters stamina as its first
        attempt, replayed rather than sent again, so the backoff, ``Retry-After``, the
        retry log and the number of attempts are the same as if every attempt ran inside
        it (only stamina's overall timeout starts after the first attempt's answer).
        """
        kind = request_kind(method, path if isinstance(path, str) else path.path)
        request = _Request(method, path, headers, content, params, follow_redirects)
        try:
            return await self._attempt(kind, request)
        except (RetryableAnswer, httpx.TransportError) as exc:
            decide = self._retry.hook(connect_errors=connect_errors)
            if method not in IDEMPOTENT_METHODS or decide(exc) is False:
                if isinstance(exc, RetryableAnswer):
                    return exc.response
                raise
            first: Exception = exc
        retry = self._retry
        try:
            async for attempt in stamina.retry_context(
                on=decide,
                attempts=retry.attempts,
                timeout=retry.timeout,
                wait_initial=retry.wait_initial,
                wait_max=retry.wait_max,
                wait_jitter=retry.wait_jitter,
            ):
                with attempt:
                    if attempt.num == 1:
                        raise first  # the failure above, for stamina to back off from
                    self.counts.retries += 1
                    return await self._attempt(kind, request)
        except RetryableAnswer as exc:
            return exc.response
        raise OperationError(f"{method} {path}: no attempt was made")  # pragma: no cover

    async def _attempt(self, kind: RequestKind, request: _Request) -> httpx.Response:
        """Send once, in a place of the window; an answer worth retrying is raised as
        :class:`RetryableAnswer`."""
        async with self.pace.slot(kind) as slot:
            self.counts.by_kind[kind] += 1
            response = await self._http.request(
                request.method,
                request.path,
                headers=request.headers,
                content=request.content,
                params=request.params,
                follow_redirects=request.follow_redirects,
            )
            status = response.status_code
            retrying = status in RETRY_STATUSES
            slot.answered(status, self._retry.wait_asked(response) if retrying else None)
        if retrying:
            raise RetryableAnswer(response)
        return response

    async def _list(self, path: str, key: str, what: str) -> list[str]:
        """All names under ``key`` across the pages of a catalog or tag list."""
        names: list[str] = []
        guard = PageGuard(what)
        url: str | httpx.URL = path
        params: dict[str, str] | None = {"n": str(PAGE_SIZE)}
        while True:
            response = await self._request("GET", url, params=params)
            if response.status_code == 400 and params is not None:
                code, _ = oci_error(response)
                if code == "PAGINATION_NUMBER_INVALID":  # a smaller maximum than ours
                    params = None
                    continue
            if key == "tags" and not guard.seen and _is_unknown(response):
                return names
            if response.status_code != 200:
                raise api_error(response, f"listing {what}")
            names.extend(_names(response, key, what))
            following = next_page(response)
            if following is None:
                return names
            guard.check(following)
            url, params = following, None


class _SetCookies(httpx.Cookies):
    """httpx's cookie store, reading an answer's cookies only when it sets some.

    httpx reads every answer's cookies through urllib stand-ins of the request and the
    answer, built even when there is no ``Set-Cookie`` (4% of the client's CPU per request
    on loopback, measured); registries seldom set one (distribution never does), and a
    registry that does has its cookies kept and sent back as before.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


def _is_unknown(response: httpx.Response) -> bool:
    """404 because the manifest (or its repository) does not exist, not a wrong URL."""
    if response.status_code != 404:
        return False
    code, _ = oci_error(response)
    return code in (None, "MANIFEST_UNKNOWN", "NAME_UNKNOWN")


def _is_web_page(response: httpx.Response) -> bool:
    """An HTML answer without the registry's API version header: a web server, a proxy's
    error page or a login portal, never a registry (which answers JSON or nothing)."""
    return "Docker-Distribution-API-Version" not in response.headers and _media_type(response) in (
        "text/html",
        "application/xhtml+xml",
    )


def _is_upload_unknown(response: httpx.Response) -> bool:
    return response.status_code == 404 and oci_error(response)[0] == "BLOB_UPLOAD_UNKNOWN"


def _media_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip()


def _descriptor_digests(response: httpx.Response) -> list[Digest]:
    """The digests of an image index answer's ``manifests``; anything malformed is an error."""
    try:
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        entries = body.get("manifests") or []
        if not isinstance(entries, list):
            raise ValueError("manifests is not a list")
        return [parse_digest(entry["digest"]) for entry in entries]
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedAnswerError(
            f"{describe_request(response.request)}: not an image index of referrers: {exc}"
        ) from None


def _names(response: httpx.Response, key: str, what: str) -> list[str]:
    """The list under ``key`` of a listing page; ``null`` is empty, anything else an error."""
    try:
        body = response.json()
    except ValueError:
        raise MalformedAnswerError(f"listing {what}: the answer is not JSON") from None
    value = body.get(key) if isinstance(body, dict) else None
    if value is None and isinstance(body, dict):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedAnswerError(f"listing {what}: {key!r} is not a list of names")
    return value
