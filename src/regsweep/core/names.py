"""Repository and tag names as the distribution grammar defines them.

A name read from storage or typed by a user becomes a path or a URL; checking it against the
grammar first is what keeps ``../`` and other surprises out of both.
"""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
#: Components joined by ``/``: one match in C (storage discovery checks every path's name).
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def is_repository_name(name: str) -> bool:
    """Whether ``name`` is a repository name of the distribution grammar (any depth)."""
    return len(name) <= 255 and _NAME.fullmatch(name) is not None


def is_tag_name(name: str) -> bool:
    """Whether ``name`` is a valid tag: up to 128 characters, no leading dot or dash."""
    return bool(_TAG.fullmatch(name))


def check_repository(name: str) -> str:
    """``name``, or ``ValueError`` when it is not a repository name."""
    if not is_repository_name(name):
        raise ValueError(f"invalid repository name {name!r}")
    return name


def check_tag(name: str) -> str:
    """``name``, or ``ValueError`` when it is not a tag name."""
    if not is_tag_name(name):
        raise ValueError(f"invalid tag name {name!r}")
    return name
