"""The requests an API-mode run may send, stated, and the counter that holds it to that.

Over the API every fact costs a request, and on a registry with real round trips every
request is paid in wall time. A run asks only what its decisions and its safety re-checks
need. Its floor, each step beginning with one ``GET /v2/`` (login and version):

discovery
    the catalog's pages, one ``tags/list`` per repository and page; one manifest ``GET``
    per tag (its digest and its bytes in one answer); one ``GET`` per other manifest an
    index, a subject or a referrer names, once per digest across the whole registry (its
    bytes cannot change; one known from another repository is only checked to exist
    here, with a ``HEAD``); one config ``GET`` per distinct config whose build time a rule
    needs: none for an image with the ``org.opencontainers.image.created`` annotation,
    none for a tag kept by name or pinned digest when no rule ranks tags by age; the
    referrers API once per manifest where the registry has it, once in all where it does
    not.
apply
    one ``DELETE`` to probe that deletes are enabled and, when the plan removes a tag, the
    untag method's one-time probe (eight requests on distribution 2.x); per repository that
    loses a manifest, one ``tags/list`` and one ``HEAD`` per tag listed, once per run: the
    re-check that no tag points at what goes and no manifest tagged since planning
    references it (a manifest read in this run is never read again); one ``DELETE`` per
    manifest; a tag removed on its own (by name, or with a throw-away manifest where a kept
    tag shares its digest) is re-checked with one ``HEAD`` right before its removal; an
    expired tag on a manifest that goes is re-checked in the repository's listing and
    leaves with that manifest's ``DELETE``.
verify (after a run)
    for the repositories the run changed only: one ``tags/list`` each, one ``HEAD`` per tag
    and per index child; one ``HEAD`` per distinct blob their tags need only when a
    garbage collection ran in the run (the API deletes no blob of an image, so without one
    none can have gone). ``regsweep verify`` checks every repository, and every blob.

Every run counts what it sends by :class:`RequestKind` (:func:`api_counts`), each attempt of
a retried request included (the registry served each one): ``-v`` logs the counts and the
JSON reports carry them. ``benchmarks/bench_api_mode.py`` sets them beside this floor.
"""

from __future__ import annotations

from enum import StrEnum

from regsweep.sources.requests import RequestCounts


class RequestKind(StrEnum):
    """What a request asks, as the budget counts it."""

    CATALOG = "catalog"
    TAGS_LIST = "tags_list"
    MANIFEST_GET = "manifest_get"
    MANIFEST_HEAD = "manifest_head"
    BLOB_GET = "blob_get"
    BLOB_HEAD = "blob_head"
    DELETE = "delete"
    PUT = "put"
    REFERRERS = "referrers"
    #: the version check (``GET /v2/``) and upload starts (``POST``)
    OTHER = "other"


def request_kind(method: str, path: str) -> RequestKind:
    """The kind of a request to the distribution API, from its method and URL path.

    The last two path segments decide: a repository name may itself contain a segment
    called ``manifests`` or ``blobs``, never after its last slash.
    """
    if path == "/v2/_catalog":
        return RequestKind.CATALOG
    *_, section, last = ["", "", *path.rstrip("/").split("/")]
    if method == "DELETE":
        return RequestKind.DELETE
    if method == "PUT":
        return RequestKind.PUT
    if (section, last) == ("tags", "list"):
        return RequestKind.TAGS_LIST
    if section == "referrers":
        return RequestKind.REFERRERS
    if section == "manifests" and method in ("GET", "HEAD"):
        return RequestKind.MANIFEST_GET if method == "GET" else RequestKind.MANIFEST_HEAD
    if section == "blobs" and last != "uploads" and method in ("GET", "HEAD"):
        return RequestKind.BLOB_GET if method == "GET" else RequestKind.BLOB_HEAD
    return RequestKind.OTHER


def api_counts() -> RequestCounts:
    """An empty count of API requests, by :class:`RequestKind`."""
    return RequestCounts(RequestKind)
