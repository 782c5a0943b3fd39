"""RegistryClient against httpx.MockTransport: the answers registries give, mapped to errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import httpx
import pytest

from regsweep.core.errors import NotARegistryError, OperationError, RegistryAPIError, UsageError
from regsweep.core.mediatypes import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.errors import (
    DeleteDisabledError,
    RegistryAuthError,
    RegistryUnreachableError,
)
from regsweep.sources.api.retry import RetryableAnswer, RetryPolicy, retry_after
from tests.support.api_client import Handler, with_mock_client
from tests.support.images import sha256_digest

URL = "https://registry.test:5000"
T = TypeVar("T")
FAST = RetryPolicy(attempts=3, wait_initial=0, wait_max=0, wait_jitter=0)


def run(handler: Handler, use: Callable[[RegistryClient], Awaitable[T]], **options: Any) -> T:
    """On an https URL with a port, three quick attempts: what the retry tests count."""
    return with_mock_client(handler, use, url=URL, retry=FAST, **options)


def oci_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "message": message}]})


RAW = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
DIGEST = sha256_digest(RAW)


# -- ping --------------------------------------------------------------------------------


def test_ping_accepts_200() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={})

    run(handler, lambda c: c.ping())
    assert seen == ["GET /v2/"]


def test_ping_401_without_credentials_says_how_to_log_in() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return oci_error(401, "UNAUTHORIZED", "authentication required")

    with pytest.raises(RegistryAuthError, match="--username") as caught:
        run(handler, lambda c: c.ping())
    assert caught.value.exit_code == 2


def test_ping_401_with_credentials_is_a_bad_login_and_never_shows_the_password() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return oci_error(401, "UNAUTHORIZED", "authentication required")

    with pytest.raises(RegistryAuthError, match="refused the credentials") as caught:
        run(handler, lambda c: c.ping(), auth=httpx.BasicAuth("alice", "s3cret-pw"))
    assert "s3cret-pw" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_ping_404_is_not_a_registry() -> None:
    with pytest.raises(NotARegistryError, match="not a registry"):
        run(lambda r: httpx.Response(404, text="nginx"), lambda c: c.ping())


def test_ping_connection_refused_fails_fast_as_usage_error() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(RegistryUnreachableError, match=r"cannot connect to https://registry\.test"):
        run(handler, lambda c: c.ping())
    assert calls == 1


def test_ping_untrusted_certificate_names_the_ca_flag() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
            "issuer certificate (_ssl.c:1006)",
            request=request,
        )

    with pytest.raises(RegistryUnreachableError, match=r"not trusted .*--ca-cert"):
        run(handler, lambda c: c.ping())


@pytest.mark.parametrize(
    "url",
    [
        "ftp://registry.test",
        "registry.test:5000",
        "https://alice:pw@registry.test",
        "http://x/?a=1",
    ],
)
def test_bad_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        RegistryClient(url)
    assert "pw" not in str(caught.value)


# -- manifests ---------------------------------------------------------------------------


def test_get_manifest_sends_all_four_types_and_hashes_the_bytes() -> None:
    accepts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        accepts.append(request.headers["Accept"])
        return httpx.Response(200, content=RAW, headers={"Content-Type": OCI_INDEX})

    fetched = run(handler, lambda c: c.get_manifest("team/app", "v1"))
    assert fetched == (DIGEST, OCI_INDEX, RAW)
    for media_type in (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST):
        assert media_type in accepts[0]


def test_get_manifest_refuses_bytes_that_do_not_match_the_digest_asked_for() -> None:
    other = "sha256:" + "a" * 64

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=RAW, headers={"Content-Type": OCI_INDEX})

    with pytest.raises(RegistryAPIError, match="converted"):
        run(handler, lambda c: c.get_manifest("app", other))


def test_get_manifest_refuses_a_content_digest_header_that_disagrees() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": "sha256:" + "b" * 64}
        return httpx.Response(200, content=RAW, headers=headers)

    with pytest.raises(RegistryAPIError, match=DIGEST):
        run(handler, lambda c: c.get_manifest("app", "latest"))


def test_get_manifest_unknown_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown")

    assert run(handler, lambda c: c.get_manifest("app", "gone")) is None


@pytest.mark.parametrize("name", ["../etc", "App", "app//x", "a/_layers"])
def test_invalid_names_never_become_paths(name: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        run(lambda r: httpx.Response(200), lambda c: c.get_manifest(name, "v1"))


def test_head_manifest_reads_the_headers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "HEAD"
        headers = {
            "Content-Type": OCI_INDEX,
            "Docker-Content-Digest": DIGEST,
            "Content-Length": str(len(RAW)),
        }
        return httpx.Response(200, headers=headers)

    head = run(handler, lambda c: c.head_manifest("app", "v1"))
    assert head == (DIGEST, OCI_INDEX, len(RAW))


def test_head_manifest_without_digest_header_falls_back_to_get() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Content-Type": OCI_INDEX})
        return httpx.Response(200, content=RAW, headers={"Content-Type": OCI_INDEX})

    head = run(handler, lambda c: c.head_manifest("app", "v1"))
    assert head == (DIGEST, OCI_INDEX, len(RAW))


def test_head_manifest_missing_is_none() -> None:
    assert run(lambda r: httpx.Response(404), lambda c: c.head_manifest("app", "v1")) is None


# -- delete ------------------------------------------------------------------------------


def test_delete_202_is_true_and_uses_the_digest() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(f"{request.method} {request.url.path}")
        return httpx.Response(202)

    assert run(handler, lambda c: c.delete_manifest("team/app", DIGEST)) is True
    assert paths == [f"DELETE /v2/team/app/manifests/{DIGEST}"]


def test_delete_of_a_manifest_already_gone_is_false() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown")

    assert run(handler, lambda c: c.delete_manifest("app", DIGEST)) is False


def test_delete_refuses_a_tag_name() -> None:
    with pytest.raises(ValueError, match="digest"):
        run(lambda r: httpx.Response(202), lambda c: c.delete_manifest("app", "latest"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "response",
    [
        oci_error(405, "UNSUPPORTED", "The operation is unsupported."),
        httpx.Response(405, text="Method not allowed"),  # read-only mode
    ],
)
def test_delete_405_names_the_config_line(response: httpx.Response) -> None:
    with pytest.raises(DeleteDisabledError, match="storage: delete: enabled: true") as caught:
        run(lambda r: response, lambda c: c.delete_manifest("app", DIGEST))
    assert caught.value.exit_code == 2


def test_delete_other_errors_carry_status_code_and_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return oci_error(403, "DENIED", "requested access to the resource is denied")

    with pytest.raises(RegistryAPIError) as caught:
        run(handler, lambda c: c.delete_manifest("app", DIGEST))
    assert (caught.value.status, caught.value.code) == (403, "DENIED")
    assert "403 DENIED: requested access to the resource is denied" in str(caught.value)
    assert caught.value.exit_code == 1


def test_check_delete_enabled_probes_without_changing_anything() -> None:
    seen: list[str] = []

    def enabled(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown")

    run(enabled, lambda c: c.check_delete_enabled("app"))
    assert seen == ["/v2/app/manifests/sha256:" + "0" * 64]

    def disabled(request: httpx.Request) -> httpx.Response:
        return oci_error(405, "UNSUPPORTED", "The operation is unsupported.")

    with pytest.raises(DeleteDisabledError):
        run(disabled, lambda c: c.check_delete_enabled("app"))


# -- retries and concurrency -------------------------------------------------------------


def test_transient_answers_are_retried_then_succeed() -> None:
    answers = [httpx.Response(503), httpx.Response(429), httpx.Response(202)]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    assert run(handler, lambda c: c.delete_manifest("app", DIGEST)) is True
    assert answers == []


def test_retries_give_up_with_the_last_answer() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return oci_error(503, "UNAVAILABLE", "try later")

    with pytest.raises(RegistryAPIError, match="503 UNAVAILABLE") as caught:
        run(handler, lambda c: c.get_manifest("app", "v1"))
    assert calls == FAST.attempts
    assert caught.value.status == 503


def test_connection_errors_mid_run_are_retried_then_an_operation_error() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("Connection reset", request=request)

    with pytest.raises(OperationError, match="cannot connect") as caught:
        run(handler, lambda c: c.get_manifest("app", "v1"))
    assert calls == FAST.attempts
    assert not isinstance(caught.value, UsageError)


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_retry_after=30)
    decide = policy.hook()
    assert decide(RetryableAnswer(httpx.Response(429, headers={"Retry-After": "7"}))) == 7
    assert decide(RetryableAnswer(httpx.Response(429, headers={"Retry-After": "3600"}))) == 30
    assert decide(RetryableAnswer(httpx.Response(503))) is True
    assert decide(ValueError("bug")) is False
    assert policy.hook(connect_errors=False)(httpx.ConnectError("refused")) is False


def test_retry_after_reads_http_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=12), usegmt=True)
    assert retry_after(httpx.Response(429, headers={"Retry-After": later}), now) == 12
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"}), now) is None


def test_retry_after_waits_before_the_next_attempt() -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(asyncio.get_running_loop().time())
        if len(times) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"})
        return httpx.Response(202)

    assert run(handler, lambda c: c.delete_manifest("app", DIGEST)) is True
    assert times[1] - times[0] >= 0.9


def test_in_flight_requests_are_bounded() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(202)

    async def many(client: RegistryClient) -> list[bool]:
        return await asyncio.gather(*(client.delete_manifest("app", DIGEST) for _ in range(20)))

    assert run(handler, many, concurrency=3) == [True] * 20
    assert peak == 3


# -- cookies -----------------------------------------------------------------------------


def test_a_cookie_the_registry_sets_is_sent_back() -> None:
    """Answers are read for cookies only when they set one; one that does is kept."""
    sent: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Cookie"))
        if len(sent) == 2:
            return httpx.Response(200, json={}, headers={"Set-Cookie": "session=abc; Path=/"})
        return httpx.Response(200, json={})

    async def use(client: RegistryClient) -> None:
        for _ in range(4):
            await client.ping()

    run(handler, use)
    assert sent == [None, None, "session=abc", "session=abc"]


# -- the first attempt outside stamina ---------------------------------------------------


def test_a_transport_error_then_success_is_one_retry() -> None:
    """The first attempt, sent outside stamina, fails; stamina retries it once."""
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            raise httpx.ReadError("reset", request=request)
        return httpx.Response(200, content=RAW, headers={"Content-Type": OCI_INDEX})

    async def use(client: RegistryClient) -> tuple[object, int]:
        fetched = await client.get_manifest("app", "v1")
        return fetched, client.counts.retries

    fetched, retries = run(handler, use)
    assert fetched is not None and retries == 1 and len(attempts) == 2
