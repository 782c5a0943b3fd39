"""Image references as docker, podman and kubectl print them, read as the engines read them."""

from __future__ import annotations

import pytest

from regsweep.core.references import parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "host", "repository", "tag", "digest"),
    [
        ("registry.example.com/shop/web:1.5.0", "registry.example.com", "shop/web", "1.5.0", None),
        ("127.0.0.1:5000/app:t1", "127.0.0.1:5000", "app", "t1", None),
        ("localhost/app", "localhost", "app", "latest", None),
        (f"Registry.Example.com/app@{DIGEST}", "registry.example.com", "app", None, DIGEST),
        (f"reg:5000/a/b/c:pr-1@{DIGEST}", "reg:5000", "a/b/c", "pr-1", DIGEST),
        # kubectl on dockershim nodes prints image ids with the runtime's prefix
        (f"docker-pullable://reg.local/app@{DIGEST}", "reg.local", "app", None, DIGEST),
        # no host: Docker Hub, one component under library/, as every engine reads it
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("team/app", "docker.io", "team/app", "latest", None),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        # an image id printed by docker ps for an untagged image names no registry of ours
        ("4f2a8c1b2c3d", "docker.io", "library/4f2a8c1b2c3d", "latest", None),
    ],
)
def test_a_reference_splits_into_host_repository_tag_and_digest(
    text: str, host: str, repository: str, tag: str | None, digest: str | None
) -> None:
    reference = parse_reference(text)
    assert (reference.host, reference.repository, reference.tag, reference.digest) == (
        host,
        repository,
        tag,
        digest,
    )
    assert reference.text == text


@pytest.mark.parametrize(
    "text",
    [
        "reg.local/App:1",  # upper case repository
        "reg.local/app:-bad",  # a tag never starts with a dash
        "reg.local/app@sha256:1234",  # a digest that is not one
        "reg.local/",  # no repository
        "reg.local/app@md5:" + "ab" * 16,
    ],
)
def test_a_malformed_reference_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_reference(text)
