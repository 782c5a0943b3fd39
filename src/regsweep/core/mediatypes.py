"""Manifest, index, config and layer media types, and the predicates over them.

Nobody compares media type strings by hand elsewhere: ask these predicates.
"""

from __future__ import annotations

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

#: Sent on every manifest GET/HEAD. With fewer types, distribution 2.8 converts or
#: substitutes: no Accept gives a schema1 manifest with a new digest on every request, and
#: a manifest list asked for with only the Docker v2 type answers with its linux/amd64
#: CHILD, whose digest a naive tool then deletes, breaking the multi-arch image.
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))


def is_index(media_type: str) -> bool:
    """An index (OCI image index or Docker manifest list): it references child manifests."""
    return media_type in INDEX_TYPES


def is_image_manifest(media_type: str) -> bool:
    """A single-platform image (or artifact) manifest: it references a config and layers."""
    return media_type in IMAGE_MANIFEST_TYPES


def is_schema1(media_type: str) -> bool:
    """Docker's deprecated schema1 manifest: it references layers only, as ``fsLayers``."""
    return media_type in SCHEMA1_TYPES


def is_known_manifest(media_type: str) -> bool:
    """Any manifest type the registry can serve."""
    return is_index(media_type) or is_image_manifest(media_type) or is_schema1(media_type)


def is_foreign_layer(media_type: str) -> bool:
    """A layer the registry does not store (Windows base layers, non-distributable)."""
    return "foreign" in media_type or "nondistributable" in media_type
