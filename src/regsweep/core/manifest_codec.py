"""A parsed manifest as compact bytes and back (pure, no I/O).

Past ``--memory-limit`` the manifests discovery parsed go to disk
(:class:`~regsweep.core.manifest_map.ManifestMap`). What goes is the parsed
:class:`~regsweep.core.model.Manifest`, not the bytes the registry stores: a manifest may
be in memory when the budget spills, long after its bytes were read, and a parsed one is
what every reader expects back, equal to the one put, annotations included.

JSON arrays, positional: the standard library's encoder and decoder are C, and a field
added to the model fails :func:`decode_manifest` loudly rather than being dropped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, cast

from regsweep.core.model import NO_ANNOTATIONS, Descriptor, Digest, Manifest

_COMPACT = (",", ":")


def encode_manifest(manifest: Manifest) -> bytes:
    """``manifest`` as bytes that :func:`decode_manifest` reads back equal."""
    return json.dumps(
        [
            manifest.digest,
            manifest.media_type,
            manifest.size,
            _descriptor(manifest.config) if manifest.config is not None else None,
            [_descriptor(d) for d in manifest.layers],
            [_descriptor(d) for d in manifest.children],
            manifest.subject,
            manifest.artifact_type,
            _annotations(manifest.annotations),
        ],
        separators=_COMPACT,
    ).encode()


def decode_manifest(data: bytes) -> Manifest:
    """The manifest :func:`encode_manifest` made ``data`` of."""
    digest, media_type, size, config, layers, children, subject, artifact_type, notes = json.loads(
        data
    )
    return Manifest(
        digest=Digest(digest),
        media_type=sys.intern(media_type),
        size=size,
        config=_parsed(config) if config is not None else None,
        layers=tuple(_parsed(d) for d in layers),
        children=tuple(_parsed(d) for d in children),
        subject=subject,
        artifact_type=artifact_type,
        annotations=notes or NO_ANNOTATIONS,
    )


def _descriptor(descriptor: Descriptor) -> list[object]:
    return [
        descriptor.media_type,
        descriptor.digest,
        descriptor.size,
        descriptor.platform,
        _annotations(descriptor.annotations),
    ]


def _parsed(fields: list[Any]) -> Descriptor:
    media_type, digest, size, platform, notes = fields
    return Descriptor(
        media_type=sys.intern(media_type),
        digest=cast(Digest, digest),
        size=size,
        platform=sys.intern(platform) if platform is not None else None,
        annotations=notes or NO_ANNOTATIONS,
    )


def _annotations(annotations: Mapping[str, str]) -> dict[str, str] | None:
    return dict(annotations) or None
