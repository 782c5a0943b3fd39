"""Image ages without storage: the build time recorded in the image (pure, no I/O).

Over the API a registry tells nothing about when a tag was pushed, so the only age is the
build time: the ``org.opencontainers.image.created`` annotation or the config's
``created``. Reproducible builds (Jib, Bazel, ko, distroless, Nix) stamp 1970-01-01 and Go
tools write the zero time 0001-01-01: read as a date, those would make a fresh image look
fifty years old and delete it. Any time before :data:`EARLIEST_BUILD` is therefore unknown,
and a tag of unknown age is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

CREATED_ANNOTATION = "org.opencontainers.image.created"

#: Earlier timestamps are placeholders, not build times (see the module docstring).
EARLIEST_BUILD = datetime(1971, 1, 1, tzinfo=UTC)


def build_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None when missing, malformed or a placeholder."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when if when >= EARLIEST_BUILD else None


def annotated_time(annotations: Mapping[str, str]) -> datetime | None:
    return build_time(annotations.get(CREATED_ANNOTATION))


def config_time(raw: bytes) -> datetime | None:
    """The ``created`` of an image config blob (OCI and Docker configs both have it)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return build_time(doc.get("created")) if isinstance(doc, dict) else None


def newest(times: Iterable[datetime | None]) -> datetime | None:
    """The newest known time: an index is as young as its youngest platform."""
    known = [t for t in times if t is not None]
    return max(known) if known else None
