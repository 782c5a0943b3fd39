"""Image references as container engines print them: ``host/repo:tag``, ``repo@sha256:...``.

``docker ps``, ``podman ps`` and ``kubectl get pods -o jsonpath`` name the images that
workloads run this way. The host is told apart from the repository as the engines do it
(Docker's reference normalisation): the first path component is a registry host when it
holds a ``.`` or a ``:`` or is ``localhost``; otherwise the image is on Docker Hub
(``docker.io``), where a one-component name lives under ``library/``. Following the engines
to the letter is what keeps ``nginx:1.25`` (Docker Hub) from ever being read as a tag of
this registry's ``nginx``, and ``registry.local/nginx`` from being missed.
"""

from __future__ import annotations

from dataclasses import dataclass

from regsweep.core import names
from regsweep.core.model import Digest, parse_digest

#: Docker Hub, as a reference without a host names it.
DOCKER_HUB = "docker.io"

#: Prefixes some runtimes put before an image id (``kubectl get pods`` on dockershim
#: nodes prints ``docker-pullable://host/repo@sha256:...``).
_RUNTIME_PREFIXES = ("docker-pullable://", "docker://")


@dataclass(frozen=True, slots=True)
class ImageReference:
    """One reference: the registry host it names, the repository, a tag and/or a digest."""

    host: str
    repository: str
    tag: str | None
    digest: Digest | None
    #: the reference as it was read
    text: str


def parse_reference(text: str) -> ImageReference:
    """``text`` as an :class:`ImageReference`; ``ValueError`` saying what is wrong.

    A reference with neither tag nor digest means ``:latest``, as every engine reads it.
    """
    rest = text
    for prefix in _RUNTIME_PREFIXES:
        rest = rest.removeprefix(prefix)
    digest = None
    if "@" in rest:
        rest, _, digest_text = rest.partition("@")
        digest = parse_digest(digest_text)
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, path = first.lower(), remainder
    else:
        host, path = DOCKER_HUB, rest
    tag = None
    name, colon, tag_text = path.rpartition(":")
    if colon and "/" not in tag_text:
        path, tag = name, names.check_tag(tag_text)
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(host, names.check_repository(path), tag, digest, text)
