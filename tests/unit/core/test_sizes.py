"""Sizes as the user writes them, in bytes; anything else refused with the forms accepted."""

from __future__ import annotations

import pytest

from regsweep.core.sizes import parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("536870912", 512 * 2**20),
        ("512MiB", 512 * 2**20),
        ("512m", 512 * 2**20),
        ("512Mi", 512 * 2**20),
        ("1G", 2**30),
        ("1.5GiB", 3 * 2**29),
        ("500MB", 500 * 10**6),
        (" 64 KiB ", 64 * 2**10),
        ("2T", 2 * 2**40),
        ("100b", 100),
        (4096, 4096),
    ],
)
def test_sizes_in_bytes(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MiB", "-1G", "1 GB GB", "12 furlongs", "1e9", "0x10"])
def test_anything_else_is_refused_with_the_forms_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="512MiB, 1G"):
        parse_size(text)
