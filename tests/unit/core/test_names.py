"""Repository and tag names: the distribution grammar, at its edges.

Every name here was judged against the grammar by hand (distribution's
``reference/regexp.go``): lowercase components joined by one ``.``, one ``_``, ``__`` or
any run of ``-``, at most 255 characters in all; tags of 1 to 128 word characters, dots
and dashes, not starting with a dot or a dash.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regsweep.core.names import check_repository, check_tag, is_repository_name, is_tag_name

REPOSITORY_NAMES = [
    "app",
    "0",
    "team/app",
    "a/b/c/d",
    "web-ui",
    "a---b",
    "x_y.z",
    "a__b",
    "a" * 255,
    "a/" * 127 + "b",  # 255 characters
]
NOT_REPOSITORY_NAMES = [
    "",
    "App",
    "team/App",
    "a..b",
    "a._b",
    "a___b",
    "-a",
    "a-",
    "_hidden",
    "team/_layers",
    "a/",
    "/a",
    "a//b",
    "..",
    "a/..",
    "a b",
    "é",
    "app\n",
    "a" * 256,
    "a/" * 127 + "bc",  # 256 characters of valid components
]
TAG_NAMES = [
    "latest",
    "v1.0",
    "1",
    "A",
    "_x",
    "a..b",
    "1.2.3-rc1",
    "sha256-" + "0" * 64 + ".sig",
    "a" * 128,
]
NOT_TAG_NAMES = ["", ".hidden", "-dash", "...", "t t", "a/b", "é", "v1:2", "latest\n", "a" * 129]


@pytest.mark.parametrize("name", REPOSITORY_NAMES)
def test_repository_names_the_grammar_accepts(name: str) -> None:
    assert is_repository_name(name)
    assert check_repository(name) == name


@pytest.mark.parametrize("name", NOT_REPOSITORY_NAMES)
def test_repository_names_the_grammar_refuses(name: str) -> None:
    assert not is_repository_name(name)
    with pytest.raises(ValueError) as caught:
        check_repository(name)
    assert str(caught.value) == f"invalid repository name {name!r}"


@pytest.mark.parametrize("name", TAG_NAMES)
def test_tag_names_the_grammar_accepts(name: str) -> None:
    assert is_tag_name(name)
    assert check_tag(name) == name


@pytest.mark.parametrize("name", NOT_TAG_NAMES)
def test_tag_names_the_grammar_refuses(name: str) -> None:
    assert not is_tag_name(name)
    with pytest.raises(ValueError) as caught:
        check_tag(name)
    assert str(caught.value) == f"invalid tag name {name!r}"


_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


@given(st.text(alphabet="ab0._-/A", max_size=40))
def test_a_repository_name_is_its_components_each_a_component(name: str) -> None:
    by_component = all(_COMPONENT.fullmatch(part) for part in name.split("/"))
    assert is_repository_name(name) == (by_component and len(name) <= 255)
