"""Catalog and tag lists: Link pagination, odd answers, refusals."""

from __future__ import annotations

import httpx
import pytest

from regsweep.core.errors import RegistryAPIError
from regsweep.sources.api.pagination import PAGE_SIZE
from tests.support.api_client import Handler, with_mock_client

URL = "http://registry.test"


def listing(handler: Handler, repository: str | None) -> list[str]:
    if repository is None:
        return with_mock_client(handler, lambda c: c.list_repositories(), url=URL)
    return with_mock_client(handler, lambda c: c.list_tags(repository), url=URL)


def test_catalog_follows_relative_and_absolute_links() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        last = request.url.params.get("last")
        if last is None:
            return httpx.Response(
                200,
                json={"repositories": ["a", "b"]},
                headers={"Link": '</v2/_catalog?last=b&n=2>; rel="next"'},
            )
        if last == "b":
            return httpx.Response(
                200,
                json={"repositories": ["c"]},
                headers={"Link": f'<{URL}/v2/_catalog?last=c&n=2>; rel="next"'},
            )
        return httpx.Response(200, json={"repositories": []})

    assert listing(handler, None) == ["a", "b", "c"]
    assert asked[0] == f"{URL}/v2/_catalog?n={PAGE_SIZE}"
    assert asked[1:] == [f"{URL}/v2/_catalog?last=b&n=2", f"{URL}/v2/_catalog?last=c&n=2"]


def test_a_link_to_another_origin_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"tags": ["v1"]},
            headers={"Link": '<https://evil.test/v2/app/tags/list?last=v1>; rel="next"'},
        )

    with pytest.raises(RegistryAPIError, match="another origin"):
        listing(handler, "app")


def test_a_pagination_loop_is_an_error_not_a_hang() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"tags": ["v1"]}, headers={"Link": '</v2/app/tags/list?last=v1>; rel="next"'}
        )

    with pytest.raises(RegistryAPIError, match="loops"):
        listing(handler, "app")


def test_only_rel_next_is_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"tags": ["v1"]}, headers={"Link": '</v2/app/tags/list?x=1>; rel="prev"'}
        )

    assert listing(handler, "app") == ["v1"]


def test_null_tags_and_unknown_name_are_empty() -> None:
    assert listing(lambda r: httpx.Response(200, json={"name": "a", "tags": None}), "a") == []
    unknown = httpx.Response(
        404, json={"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}
    )
    assert listing(lambda r: unknown, "a") == []


def test_a_smaller_page_limit_is_retried_without_n() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "n" in request.url.params:
            return httpx.Response(
                400, json={"errors": [{"code": "PAGINATION_NUMBER_INVALID", "message": "no"}]}
            )
        return httpx.Response(200, json={"repositories": ["a"]})

    assert listing(handler, None) == ["a"]


@pytest.mark.parametrize("body", [{"tags": "v1"}, {"tags": [1]}, ["v1"]])
def test_malformed_lists_are_errors(body: object) -> None:
    with pytest.raises(RegistryAPIError, match="not a list"):
        listing(lambda r: httpx.Response(200, json=body), "app")


def test_catalog_refused_says_so() -> None:
    denied = httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED", "message": "no"}]})
    with pytest.raises(RegistryAPIError, match="listing the catalog: registry answered 401"):
        listing(lambda r: denied, None)
