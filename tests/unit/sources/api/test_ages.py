"""Build times as ages over the API: placeholders and garbage are unknown, never "old"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from regsweep.sources.api.ages import (
    CREATED_ANNOTATION,
    annotated_time,
    build_time,
    config_time,
    newest,
)

BUILT = datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-05-06T07:08:09Z", BUILT),
        ("2021-05-06T07:08:09.123456789Z", BUILT.replace(microsecond=123456)),
        ("2021-05-06T09:08:09+02:00", BUILT),
        ("2021-05-06T07:08:09", BUILT),  # no zone: taken as UTC
        ("1971-01-01T00:00:00Z", datetime(1971, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_build_time_is_read_as_an_aware_datetime(text: str, expected: datetime) -> None:
    when = build_time(text)
    assert when == expected
    assert when is not None and when.utcoffset() is not None


def test_an_offset_is_kept_not_converted() -> None:
    assert build_time("2021-05-06T09:08:09+02:00") == datetime(
        2021, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2))
    )


@pytest.mark.parametrize(
    "value",
    [
        "1970-01-01T00:00:00Z",  # reproducible builds: Jib, Bazel, ko, distroless, Nix
        "0001-01-01T00:00:00Z",  # Go's zero time
        "1970-12-31T23:59:59Z",
        "",
        "yesterday",
        "2021-13-01T00:00:00Z",
        None,
        1620284889,
    ],
)
def test_placeholders_and_anything_but_a_timestamp_are_unknown(value: object) -> None:
    """A placeholder read as a date would make a fresh image fifty years old."""
    assert build_time(value) is None


def test_the_created_annotation_and_the_configs_created() -> None:
    assert annotated_time({CREATED_ANNOTATION: "2021-05-06T07:08:09Z", "other": "x"}) == BUILT
    assert annotated_time({"org.opencontainers.image.version": "1.0"}) is None
    assert config_time(b'{"architecture": "amd64", "created": "2021-05-06T07:08:09Z"}') == BUILT


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"\xff\xfe", b'["created"]', b'{"created": 5}', b"{}"]
)
def test_a_config_without_a_readable_created_has_no_build_time(raw: bytes) -> None:
    assert config_time(raw) is None


def test_an_index_is_as_young_as_its_youngest_known_platform() -> None:
    older = BUILT - timedelta(days=3)
    assert newest([older, None, BUILT]) == BUILT
    assert newest([None, None]) is None
    assert newest([]) is None
