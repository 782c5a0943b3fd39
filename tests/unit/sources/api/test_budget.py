"""Requests counted by kind: what the budget of an API-mode run is stated in."""

from __future__ import annotations

import httpx
import pytest

from regsweep.sources.api.budget import RequestKind, api_counts, request_kind
from regsweep.sources.api.retry import RetryPolicy
from tests.support.api_client import with_mock_client

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/v2/", RequestKind.OTHER),
        ("GET", "/v2/_catalog", RequestKind.CATALOG),
        ("GET", "/v2/team/app/tags/list", RequestKind.TAGS_LIST),
        ("GET", "/v2/app/manifests/latest", RequestKind.MANIFEST_GET),
        ("HEAD", f"/v2/app/manifests/{DIGEST}", RequestKind.MANIFEST_HEAD),
        ("GET", f"/v2/app/blobs/{DIGEST}", RequestKind.BLOB_GET),
        ("HEAD", f"/v2/app/blobs/{DIGEST}", RequestKind.BLOB_HEAD),
        ("DELETE", f"/v2/app/manifests/{DIGEST}", RequestKind.DELETE),
        ("DELETE", f"/v2/app/blobs/{DIGEST}", RequestKind.DELETE),
        ("PUT", "/v2/app/manifests/v1", RequestKind.PUT),
        ("PUT", "/v2/app/blobs/uploads/0f3a", RequestKind.PUT),
        ("POST", "/v2/app/blobs/uploads/", RequestKind.OTHER),
        ("GET", f"/v2/app/referrers/{DIGEST}", RequestKind.REFERRERS),
        # a repository whose name holds the segments the kinds are named after
        ("GET", "/v2/manifests/blobs/tags/list", RequestKind.TAGS_LIST),
        ("HEAD", "/v2/x/manifests/y/blobs/" + DIGEST, RequestKind.BLOB_HEAD),
        ("GET", "/v2/tags/list/manifests/v1", RequestKind.MANIFEST_GET),
    ],
)
def test_each_request_is_counted_as_the_kind_it_is(
    method: str, path: str, kind: RequestKind
) -> None:
    assert request_kind(method, path) is kind


def test_every_attempt_is_counted_and_retries_also_on_their_own() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"tags": ["v1"]})])
    counts = api_counts()

    tags = with_mock_client(
        lambda request: next(answers),
        lambda client: client.list_tags("app"),
        retry=RetryPolicy(attempts=2, wait_initial=0, wait_max=0, wait_jitter=0),
        counts=counts,
    )

    assert tags == ["v1"]
    assert counts.by_kind == {RequestKind.TAGS_LIST: 2}
    assert counts.retries == 1
    assert counts.seconds > 0


def test_counts_add_up_and_say_themselves_in_one_line() -> None:
    discovery = api_counts()
    discovery.by_kind.update({RequestKind.MANIFEST_GET: 5, RequestKind.TAGS_LIST: 1})
    discovery.seconds = 2.0
    apply = api_counts()
    apply.by_kind.update({RequestKind.DELETE: 3, RequestKind.TAGS_LIST: 1})
    apply.retries, apply.seconds = 1, 1.0

    total = discovery + apply

    assert total.total == 10
    assert total.to_json()["tags_list"] == 2
    assert total.to_json()["catalog"] == 0
    assert total.to_json()["retries"] == 1
    assert total.describe() == (
        "10 requests in 3.0 s (3/s): 5 manifest_get, 3 delete, 2 tags_list, 1 retries"
    )
