"""Durations as users type them: every accepted form, and typos that must never become zero."""

from __future__ import annotations

from datetime import timedelta

import pytest

from regsweep.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("0", 0),
        ("90s", 90),
        ("90m", 5400),
        ("12h", 43200),
        ("30d", 30 * 86400),
        ("2w", 14 * 86400),
        ("1d12h", 36 * 3600),
        ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        (" 1d 12h ", 36 * 3600),
        ("12H", 43200),
        ("2W", 14 * 86400),
        ("1h30m", 5400),
        ("0s", 0),
        ("007", 7),
        (3600, 3600),
        (1.5, 1.5),
        (timedelta(hours=2), 7200),
    ],
)
def test_durations_in_every_accepted_form(
    text: str | int | float | timedelta, seconds: float
) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "12x",
        "h",
        "d12",
        "1.5h",
        "12h-",
        "-5",
        "-1d",
        "10 days",
        "1e3",
        "P30D",
        "½d",
    ],
)
def test_bad_durations_are_errors_that_show_the_accepted_forms(text: str) -> None:
    """A typo must never become zero: a zero max age would make every tag old."""
    with pytest.raises(ValueError, match=r"invalid duration .*12h, 30d"):
        parse_duration(text)


@pytest.mark.parametrize("value", [-1, -0.5, timedelta(seconds=-1)])
def test_negative_durations_are_refused(value: int | float | timedelta) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_duration(value)


def test_a_boolean_is_not_a_duration() -> None:
    """``MAX_AGE_SECONDS=true`` in YAML is a bool, which Python would count as 1 second."""
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (86399, "23h"),
        (86400, "1d"),
        (40 * 86400 + 3600, "40d"),
        (-7200, "-2h"),
        (-59, "-59s"),
    ],
)
def test_format_duration_shows_the_largest_whole_unit(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(seconds=90.9), "1m"), (timedelta(milliseconds=999), "0s")],
)
def test_format_duration_drops_what_is_below_a_whole_second(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
