"""moto's S3 listings, served from a sorted index of each bucket's keys, as S3 serves them.

moto 5 answers every ListObjects page by scanning every key of the bucket, then sorting
all those below the prefix, then skipping to where the page begins: each page costs the
whole bucket, so a listing of ``n`` keys costs ``n / 1000`` times that, and a benchmark
of listing on moto measures moto's sort. S3 keeps its keys sorted and a page costs its
1,000 keys. This module, put on ``PYTHONPATH`` of the ``moto_server`` process only
(``benchmarks.bench_s3_gc --indexed-moto``), answers both ListObjects versions from a
sorted list of the bucket's key names, rebuilt after any change to the bucket; the answers
are moto's (the prefix, the delimiter's common prefixes, ``start-after``, markers and
continuation tokens, pages of ``max-keys``), but for one case, where they are S3's: a
ListObjects (version 1) page with a delimiter counts the folders as well as the keys
against ``max-keys`` (moto gives every folder on the first page).
``tests/integration/test_moto_index.py`` compares the answers with moto's.

It also takes away a lock every request of moto's waits for while moto lists its own
package folder (:func:`_dispatch_without_listing_moto`): S3 serves requests at once; and
writes the XML of a ListObjectsV2 page itself (:func:`_render_listings`), as moto's own
serializer would, at a tenth of its cost (a page of 1,000 keys took 332 ms to serve to one
client, 36 ms with it).
"""

from __future__ import annotations

import bisect
import sys
from typing import Any
from xml.sax.saxutils import escape


def _install() -> None:
    from moto.s3 import models, utils
    from moto.utilities.utils import md5_hash

    store = utils._VersionedKeyStore
    versions: dict[int, int] = {}
    index: dict[int, tuple[int, list[str]]] = {}

    def bumping(method: Any) -> Any:
        def changed(self: Any, *args: Any, **kwargs: Any) -> Any:
            versions[id(self)] = versions.get(id(self), 0) + 1
            return method(self, *args, **kwargs)

        return changed

    for name in ("__setitem__", "__delitem__", "setlist", "pop", "clear", "update"):
        if hasattr(store, name):
            setattr(store, name, bumping(getattr(store, name)))

    def names(keys: Any) -> list[str]:
        version = versions.get(id(keys), 0)
        cached = index.get(id(keys))
        if cached is None or cached[0] != version:
            cached = index[id(keys)] = (version, sorted(dict.keys(keys)))
        return cached[1]

    def page(
        bucket: Any, prefix: str, delimiter: str | None, after: str | None, max_keys: int
    ) -> tuple[list[Any], list[str], bool]:
        """Keys and common prefixes after ``after``, in order, up to ``max_keys`` of them
        together; whether more follow."""
        if max_keys == 0:  # moto's answer: nothing, and nothing more
            return [], [], False
        sorted_names = names(bucket.keys)
        at = bisect.bisect_left(sorted_names, prefix)
        if after is not None and after >= prefix:
            at = max(at, bisect.bisect_right(sorted_names, after))
        keys: list[Any] = []
        folders: list[str] = []
        while at < len(sorted_names) and sorted_names[at].startswith(prefix):
            name = sorted_names[at]
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                folder = prefix + rest.split(delimiter, 1)[0] + delimiter
                if (after is None or folder > after) and folder not in folders[-1:]:
                    if len(keys) + len(folders) == max_keys:
                        return keys, folders, True
                    folders.append(folder)
                at = bisect.bisect_left(sorted_names, folder[:-1] + chr(ord(delimiter) + 1))
                continue
            key = bucket.keys[name]
            if not isinstance(key, models.FakeDeleteMarker):
                if len(keys) + len(folders) == max_keys:
                    return keys, folders, True
                keys.append(key)
            at += 1
        return keys, folders, False

    def token(backend: Any, last: str) -> str:
        made = md5_hash(last.encode("utf-8")).hexdigest()
        backend._pagination_tokens[made] = last
        return made

    def list_objects(
        self: Any, bucket: Any, prefix: Any, delimiter: Any, marker: Any, max_keys: Any
    ) -> Any:
        if isinstance(bucket, models.FakeTableStorageBucket):
            raise models.MethodNotAllowed()
        after = (self._pagination_tokens.get(marker) or marker) if marker else None
        limit = max_keys if max_keys is not None else sys.maxsize
        keys, folders, more = page(bucket, prefix or "", delimiter, after, limit)
        last = max([k.name for k in keys[-1:]] + folders[-1:]) if more else None
        return keys, folders, more, (token(self, last) if last else None)

    def list_objects_v2(
        self: Any,
        bucket: Any,
        prefix: Any,
        delimiter: Any,
        continuation_token: Any,
        start_after: Any,
        max_keys: Any,
    ) -> Any:
        if isinstance(bucket, models.FakeTableStorageBucket):
            raise models.MethodNotAllowed()
        after = (
            self._pagination_tokens.get(continuation_token) if continuation_token else start_after
        )
        keys, folders, more = page(bucket, prefix or "", delimiter, after, max_keys)
        found = sorted([*keys, *folders], key=self._get_name)
        last = self._get_name(found[-1]) if more and found else None
        return found, more, (token(self, last) if last else None)

    models.S3Backend.list_objects = list_objects
    models.S3Backend.list_objects_v2 = list_objects_v2


def _dispatch_without_listing_moto() -> None:
    """moto's dispatcher, to find which service a request is for, lists moto's own package
    folder and stats each of its 182 entries, for every request, while holding a lock that
    every request takes: the requests moto serves are one at a time, most of each spent on
    that (measured: 72% of moto's samples waiting for the lock). The list, made once."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


# What a page and each of its keys hold, in the order of botocore's model of the answer
_PAGE_HEAD = ("Name", "Prefix", "Delimiter", "MaxKeys")
_PAGE_TAIL = ("EncodingType", "KeyCount", "NextContinuationToken", "StartAfter")
_PAGE = frozenset({"IsTruncated", "Contents", *_PAGE_HEAD, "CommonPrefixes", *_PAGE_TAIL})
_KEY = ("Key", "LastModified", "ETag", "Size", "StorageClass")
_KEY_MEMBERS = frozenset(_KEY)


def _element(name: str, value: object) -> str:
    if value == "":
        return f"<{name}/>"
    text = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
    return f"<{name}>{text}</{name}>"


def _list_bucket_result(result: dict[str, Any]) -> str | None:
    """The body moto's serializer writes for a ListObjectsV2 ``result``, or None for one
    with members not written here (a key's owner or checksum): moto writes those.

    moto's generic serializer walks botocore's model of the answer for every value of
    every key and parses each key's LastModified string back into a date to print it
    again the same way: 80% of the time moto takes for a page of 1,000 keys (332 ms, one
    client; py-spy), where S3 takes 50-150 ms and serves many pages at once. This
    writes the same bytes in the model's order (``tests/integration/test_moto_index.py``
    compares them with moto's own answers)."""
    if not result.keys() <= _PAGE:
        return None
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
        _element("IsTruncated", result["IsTruncated"]),
    ]
    for item in result["Contents"]:
        if item.keys() != _KEY_MEMBERS:
            return None
        parts.append("<Contents>")
        parts.extend(_element(name, item[name]) for name in _KEY)
        parts.append("</Contents>")
    for name in _PAGE_HEAD:
        if name in result:
            parts.append(_element(name, result[name]))
    for folder in result.get("CommonPrefixes", ()):
        parts.append(f"<CommonPrefixes>{_element('Prefix', folder['Prefix'])}</CommonPrefixes>")
    for name in _PAGE_TAIL:
        if name in result:
            parts.append(_element(name, result[name]))
    parts.append("</ListBucketResult>")
    return "".join(parts)


def _render_listings() -> None:
    from moto.s3.responses import S3Response

    serialized = S3Response.serialized

    def rendering(self: Any, action_result: Any) -> Any:
        result = action_result.result
        body = None
        if self.data.get("Action") == "ListObjectsV2" and isinstance(result, dict):
            body = _list_bucket_result(result)
        if body is None:
            return serialized(self, action_result)
        headers = {"Content-Type": "application/xml", **self.response_headers, "status": 200}
        return 200, headers, body

    S3Response.serialized = rendering


if sys.argv and sys.argv[0].endswith("moto_server"):
    _install()
    _dispatch_without_listing_moto()
    _render_listings()
