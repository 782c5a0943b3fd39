"""The storage layout's paths and parsers, case by case, every expected path written out.

tests/unit/sources/storage/test_discovery_fuzz.py throws garbage at the same parsers;
here each edge has its exact answer.
"""

from __future__ import annotations

import pytest

from regsweep.core.model import Digest
from regsweep.sources.storage import layout
from regsweep.sources.storage.layout import RepositoryPath, parse_link, split_repository_path

HEX = "ab" * 32
DIGEST = Digest(f"sha256:{HEX}")
REPOSITORIES = "docker/registry/v2/repositories"


def test_every_path_the_registry_writes_for_a_repository_and_a_blob() -> None:
    app = f"{REPOSITORIES}/team/app"
    assert layout.blob_folder(DIGEST) == f"docker/registry/v2/blobs/sha256/ab/{HEX}"
    assert layout.blob_data(DIGEST) == f"docker/registry/v2/blobs/sha256/ab/{HEX}/data"
    assert layout.repository_folder("team/app") == app
    assert layout.tags_folder("team/app") == f"{app}/_manifests/tags"
    assert layout.tag_folder("team/app", "v1.0") == f"{app}/_manifests/tags/v1.0"
    assert layout.tag_current_link("team/app", "v1.0") == (
        f"{app}/_manifests/tags/v1.0/current/link"
    )
    assert layout.tag_index_entry("team/app", "v1.0", DIGEST) == (
        f"{app}/_manifests/tags/v1.0/index/sha256/{HEX}"
    )
    assert layout.revision_folder("team/app", DIGEST) == f"{app}/_manifests/revisions/sha256/{HEX}"
    assert layout.revision_link("team/app", DIGEST) == (
        f"{app}/_manifests/revisions/sha256/{HEX}/link"
    )
    assert layout.layer_link("team/app", DIGEST) == f"{app}/_layers/sha256/{HEX}/link"


@pytest.mark.parametrize(
    ("repository", "tag", "message"),
    [
        ("../etc", "x", "invalid repository name '../etc'"),
        ("App", "x", "invalid repository name 'App'"),
        ("app", "../x", "invalid tag name '../x'"),
        ("app", "a/b", "invalid tag name 'a/b'"),
    ],
)
def test_no_path_is_built_from_a_name_that_is_not_a_name(
    repository: str, tag: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        layout.tag_current_link(repository, tag)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "content",
    [
        f"sha256:{HEX}".encode(),
        f"sha256:{HEX}\n".encode(),
        f"  sha256:{HEX} \r\n".encode(),
    ],
    ids=["bare", "newline", "spaces and CRLF"],
)
def test_a_link_holds_one_sha256_digest_surrounding_white_space_aside(content: bytes) -> None:
    assert parse_link(content) == DIGEST


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a sha256 digest: ''"),
        (f"sha256:{HEX.upper()}".encode(), f"not a sha256 digest: 'sha256:{HEX.upper()}'"),
        (f"sha256:{HEX[:-1]}".encode(), f"not a sha256 digest: 'sha256:{HEX[:-1]}'"),
        (f"sha256:{HEX}0".encode(), f"not a sha256 digest: 'sha256:{HEX}0'"),
        (f"sha512:{HEX}{HEX}".encode(), f"not a sha256 digest: 'sha512:{HEX}{HEX[:9]}'"),
        (b"sha256:../../etc/passwd", "not a sha256 digest: 'sha256:../../etc/passwd'"),
        (f"sha256:{HEX} sha256:{HEX}".encode(), f"not a sha256 digest: 'sha256:{HEX} sha256:a'"),
        (b"\xff\xfe", "link file is not ASCII"),
        ("sha256:é".encode(), "link file is not ASCII"),
    ],
    ids=[
        "empty",
        "upper case",
        "63 hex",
        "65 hex",
        "sha512",
        "a path",
        "two digests",
        "not UTF-8",
        "not ASCII",
    ],
)
def test_anything_else_in_a_link_is_a_value_error_that_shows_it(
    content: bytes, message: str
) -> None:
    """The error shows at most 80 characters of what was found (a sha512 line is cut)."""
    with pytest.raises(ValueError) as caught:
        parse_link(content)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (
            "app/_manifests/tags/latest/current/link",
            RepositoryPath("app", "_manifests", ("tags", "latest", "current", "link")),
        ),
        (
            f"team/app/_layers/sha256/{HEX}/link",
            RepositoryPath("team/app", "_layers", ("sha256", HEX, "link")),
        ),
        ("a/b/c/_uploads", RepositoryPath("a/b/c", "_uploads", ())),
        # the first ``_`` component ends the name, whatever follows
        ("a/_x/_manifests", RepositoryPath("a", "_x", ("_manifests",))),
    ],
)
def test_a_repository_path_splits_at_its_first_underscore_component(
    relative: str, expected: RepositoryPath
) -> None:
    assert split_repository_path(relative) == expected


@pytest.mark.parametrize(
    "relative",
    [
        "",
        "app",
        "team/app/stray",
        "_manifests/tags",
        "App/_manifests/tags",
        "a//_layers",
        "../_layers",
        "a b/_layers",
    ],
    ids=[
        "empty",
        "no section",
        "stray file",
        "no name",
        "upper case",
        "empty component",
        "parent folder",
        "space",
    ],
)
def test_what_is_no_repository_path_splits_into_nothing(relative: str) -> None:
    assert split_repository_path(relative) is None


@pytest.mark.parametrize(
    ("hex_", "expected"),
    [(HEX, DIGEST), (HEX.upper(), None), (HEX[:-1], None), (HEX + "a", None), ("", None)],
)
def test_a_blob_folder_name_is_a_digest_only_when_it_is_64_lowercase_hex(
    hex_: str, expected: Digest | None
) -> None:
    assert layout.digest_from_hex(hex_) == expected


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("app/_manifests/tags/v1/index", True),
        ("team/app/_manifests/tags/index/index", True),  # the history of a tag named index
        ("app/_manifests/tags/index", False),  # a tag named index
        ("index/_manifests/tags/v1/current", False),
        ("app/_manifests/tags/v1/index/sha256", False),  # inside one: never reached
        ("app/_manifests/revisions/v1/index", False),
        ("app/_x/_manifests/tags/v1/index", False),  # a stray section's folders
        ("App/_manifests/tags/v1/index", False),  # no repository name
        ("index", False),
    ],
)
def test_a_tag_s_history_is_the_index_folder_of_a_tag(folder: str, expected: bool) -> None:
    assert layout.is_tag_history(f"{layout.REPOSITORIES}/{folder}") is expected
    assert not layout.is_tag_history(folder)  # below repositories/ only
