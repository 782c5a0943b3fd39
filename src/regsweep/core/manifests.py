"""Parse manifest bytes into :class:`~regsweep.core.model.Manifest` (pure, no I/O).

Anything the registry stored is accepted as long as it is a JSON object: unknown media
types (Helm charts, WASM, ORAS artifacts) are planned by the same rules as images because
they are manifests with blobs. Only references are extracted; a reference that is not a
valid digest makes the whole manifest invalid rather than silently dropping a blob that an
image may need.

Media types and platforms are interned, digests too (:func:`parse_digest`): a big registry
holds a few of them millions of times, and one string each keeps it in bounded memory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from regsweep.core import mediatypes
from regsweep.core.model import NO_ANNOTATIONS, Descriptor, Digest, Manifest, parse_digest


class ManifestError(ValueError):
    """The bytes are not a manifest regsweep can reason about."""


def parse_manifest(digest: Digest, raw: bytes, *, share_digests: bool = True) -> Manifest:
    """Parse ``raw`` (the exact bytes stored under ``digest``); its digests the shared
    strings unless not to ``share_digests`` (a manifest going to disk at once: interned,
    every blob's digest would be held by the table until discovery ends, 150 MiB at a
    million blobs)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than Python's limit, which the registry's Go decoder
        # accepts in fields it does not know; one such manifest must not stop a discovery.
        raise ManifestError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError("not a JSON object")
    media_type = _media_type(doc)
    try:
        if mediatypes.is_schema1(media_type):
            layers = tuple(
                Descriptor(
                    media_type="",
                    digest=parse_digest(_str(layer, "blobSum"), share=share_digests),
                    size=-1,
                )
                for layer in _list(doc, "fsLayers")
            )
            return Manifest(digest=digest, media_type=media_type, size=len(raw), layers=layers)
        config = doc.get("config")
        subject = doc.get("subject")
        return Manifest(
            digest=digest,
            media_type=media_type,
            size=len(raw),
            config=_descriptor(config, share_digests) if config is not None else None,
            layers=tuple(_descriptor(d, share_digests) for d in _list(doc, "layers")),
            children=tuple(_descriptor(d, share_digests) for d in _list(doc, "manifests")),
            subject=_descriptor(subject, share_digests).digest if subject is not None else None,
            artifact_type=_optional_str(doc, "artifactType"),
            annotations=_annotations(doc),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ManifestError(str(exc)) from None


def _media_type(doc: Mapping[str, Any]) -> str:
    """The declared media type, or the OCI one implied by the shape (mediaType is optional)."""
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return sys.intern(declared)
    if doc.get("schemaVersion") == 1:
        return (
            mediatypes.DOCKER_SCHEMA1_SIGNED if "signatures" in doc else mediatypes.DOCKER_SCHEMA1
        )
    if "manifests" in doc:
        return mediatypes.OCI_INDEX
    return mediatypes.OCI_MANIFEST


def _descriptor(value: object, share: bool) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestError("descriptor is not an object")
    size = value.get("size", -1)
    if not isinstance(size, int) or isinstance(size, bool):
        raise ManifestError("descriptor size is not an integer")
    platform = value.get("platform")
    platform_text = None
    if isinstance(platform, dict):
        parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
        platform_text = sys.intern("/".join(str(p) for p in parts if p))
    return Descriptor(
        media_type=sys.intern(_optional_str(value, "mediaType") or ""),
        digest=parse_digest(_str(value, "digest"), share=share),
        size=size,
        platform=platform_text,
        annotations=_annotations(value),
    )


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{key} is not a list")
    return value


def _str(doc: object, key: str) -> str:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, str):
        raise ManifestError(f"{key} is missing or not a string")
    return value


def _optional_str(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def _annotations(doc: Mapping[str, Any]) -> Mapping[str, str]:
    value = doc.get("annotations")
    if not isinstance(value, dict) or not value:
        return NO_ANNOTATIONS
    return {str(k): str(v) for k, v in value.items()}
