"""Human sizes in bytes: ``536870912``, ``512MiB``, ``512M``, ``1G``, ``1.5GiB``, ``500MB``."""

from __future__ import annotations

import re

#: Binary units, as ``docker run --memory`` and the cgroup tools read ``k``, ``m``, ``g``;
#: ``KB``, ``MB``, ``GB``, ``TB`` are decimal, as written on disks.
_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "ki": 2**10,
    "kib": 2**10,
    "m": 2**20,
    "mi": 2**20,
    "mib": 2**20,
    "g": 2**30,
    "gi": 2**30,
    "gib": 2**30,
    "t": 2**40,
    "ti": 2**40,
    "tib": 2**40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([a-z]*)")


def parse_size(text: str | int) -> int:
    """Bytes from a number with an optional unit (``k``, ``M``, ``GiB``, ``MB``, any case).

    Raises ``ValueError`` with the accepted forms: a typo is an error, never a silent
    default.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"size must not be negative: {text}")
        return text
    match = _SIZE.fullmatch(str(text).strip().lower().replace(" ", ""))
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(
            f"invalid size {text!r}: use bytes (536870912) or a number with a unit "
            "k, M, G, T (binary, as KiB, MiB, GiB, TiB) or KB, MB, GB, TB (decimal): 512MiB, 1G"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])
