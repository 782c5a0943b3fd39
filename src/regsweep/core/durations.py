"""Human durations: ``3600``, ``90s``, ``12h``, ``30d``, ``2w``, ``1d12h``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse a duration; a bare number is seconds (the seed's ``MAX_AGE_SECONDS``).

    Raises ``ValueError`` with the accepted forms, so a typo is an error, never a silent
    zero that would make every tag "old".
    """
    if isinstance(text, timedelta):
        value = text
    elif isinstance(text, int | float) and not isinstance(text, bool):
        value = timedelta(seconds=text)
    else:
        value = _parse_text(str(text))
    if value < timedelta(0):
        raise ValueError(f"duration must not be negative: {text!r}")
    return value


def _parse_text(text: str) -> timedelta:
    compact = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+", compact):
        return timedelta(seconds=int(compact))
    if compact and re.fullmatch(r"(\d+[smhdw])+", compact):
        seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(compact))
        return timedelta(seconds=seconds)
    raise ValueError(
        f"invalid duration {text!r}: use seconds (3600) or a number with a unit "
        "s, m, h, d or w (90m, 12h, 30d, 2w, 1d12h)"
    )


def format_duration(value: timedelta) -> str:
    """Short human form: ``45d``, ``3h``, ``12m``, ``8s`` (largest whole unit, floor)."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{seconds // size}{unit}"
    return f"{sign}{seconds}s"
