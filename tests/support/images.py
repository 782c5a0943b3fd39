"""Build and push images over the registry HTTP API, independently of regsweep.

Tests trust this client to create the state that regsweep then inspects, so it shares no code
with regsweep and checks every answer: each digest is computed from the exact bytes sent and
compared with the registry's ``Docker-Content-Digest``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
# Without all four, 2.8 converts to schema1, 404s OCI content or picks one platform of a list.
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])

NOW = "now"
"""Default for ``push_image(created=...)``: the config's ``created`` is the current UTC time."""

Descriptor = dict[str, Any]
Platform = tuple[str, str] | tuple[str, str, str]
"""(os, architecture) or (os, architecture, variant)."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes, so equal inputs give equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def platform_dict(platform: Platform) -> dict[str, str]:
    result = {"os": platform[0], "architecture": platform[1]}
    if len(platform) == 3:
        result["variant"] = platform[2]
    return result


class RegistryHTTPError(RuntimeError):
    """The registry gave an unexpected answer; ``status`` and ``body`` let tests assert on it."""

    def __init__(self, response: httpx.Response, expected: tuple[int, ...]) -> None:
        self.status = response.status_code
        self.body = response.text
        request = response.request
        super().__init__(
            f"{request.method} {request.url} answered {self.status}, expected "
            f"{' or '.join(map(str, expected))}: {self.body[:1000]}"
        )


def _expect(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise RegistryHTTPError(response, expected)
    return response


def _check_digest(response: httpx.Response, digest: str) -> None:
    answered = response.headers.get("Docker-Content-Digest")
    if answered is not None and answered != digest:
        raise AssertionError(
            f"{response.request.method} {response.request.url}: registry says {answered}, "
            f"the bytes hash to {digest}"
        )


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str

    def descriptor(self) -> Descriptor:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class PushedManifest:
    """A manifest as pushed: its exact bytes and everything it needs to be pulled."""

    repo: str
    tag: str | None
    """Tag it was pushed under, None when pushed by digest (untagged)."""
    digest: str
    media_type: str
    raw: bytes
    config: Blob | None
    """None for an index."""
    layers: tuple[Blob, ...]
    children: tuple[PushedManifest, ...]
    """Child manifests of an index, empty for an image."""
    platform: Platform | None
    """Platform of an image, None for an index."""
    blobs: frozenset[str]
    """Every digest this manifest needs, transitively, excluding its own: config and layers of an
    image; for an index, its children's digests plus their blobs."""

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def descriptor(self, *, with_platform: bool = False) -> Descriptor:
        """Descriptor pointing at this manifest (with its platform for an index entry)."""
        result: Descriptor = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if with_platform:
            if self.platform is None:
                raise ValueError(f"{self.digest} has no platform")
            result["platform"] = platform_dict(self.platform)
        return result


class Pusher:
    """Synchronous registry client for building test state. Use as a context manager or close()."""

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        *,
        verify: bool | str = True,
        timeout: float = 30.0,
    ) -> None:
        # trust_env=False: a proxy or .netrc from the environment must not touch loopback tests.
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=auth,
            verify=verify,
            timeout=timeout,
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def push_blob(
        self, repo: str, data: bytes, media_type: str = "application/octet-stream"
    ) -> Blob:
        """Upload ``data`` in two steps (POST, then PUT to the Location with ``digest=``).

        2.8 ignores the body of a one-shot ``POST ?digest=``, hence the two steps.
        """
        digest = sha256_digest(data)
        started = _expect(self.client.post(f"/v2/{repo}/blobs/uploads/"), 202)
        # Location may be relative and may already carry a query (state): append, never replace.
        location = str(started.url.join(started.headers["Location"]))
        separator = "&" if "?" in location else "?"
        upload_url = f"{location}{separator}digest={quote(digest, safe='')}"
        finished = _expect(
            self.client.put(
                upload_url, content=data, headers={"Content-Type": "application/octet-stream"}
            ),
            201,
        )
        _check_digest(finished, digest)
        return Blob(digest=digest, size=len(data), media_type=media_type)

    def push_image(
        self,
        repo: str,
        tag: str | None = None,
        *,
        layers: list[bytes] | None = None,
        n_layers: int = 2,
        layer_size: int = 1024,
        oci: bool = False,
        created: str | None = NOW,
        platform: Platform = ("linux", "amd64"),
        config_media_type: str | None = None,
        annotations: dict[str, str] | None = None,
        subject: Descriptor | PushedManifest | None = None,
        artifact_type: str | None = None,
    ) -> PushedManifest:
        """Push config, layers and an image manifest; by ``tag``, else by digest (untagged).

        Layers default to ``n_layers`` random blobs of ``layer_size`` bytes, so two calls give
        two distinct images; pass ``layers`` (and a fixed ``created``) for identical ones.
        ``created=None`` leaves ``created`` out of the config. ``annotations``, ``subject``
        and ``artifact_type`` exist only in OCI manifests.
        """
        if not oci and (annotations or subject is not None or artifact_type is not None):
            raise ValueError("annotations, subject and artifact_type need oci=True")
        if layers is None:
            layers = [os.urandom(layer_size) for _ in range(n_layers)]
        layer_type = OCI_LAYER if oci else DOCKER_LAYER
        layer_blobs = tuple(self.push_blob(repo, data, layer_type) for data in layers)
        config_doc: dict[str, Any] = {
            **platform_dict(platform),
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [blob.digest for blob in layer_blobs]},
        }
        if created == NOW:
            config_doc["created"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif created is not None:
            config_doc["created"] = created
        config = self.push_blob(
            repo,
            canonical_json(config_doc),
            config_media_type or (OCI_CONFIG if oci else DOCKER_CONFIG),
        )
        media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": config.descriptor(),
            "layers": [blob.descriptor() for blob in layer_blobs],
        }
        if annotations:
            manifest["annotations"] = annotations
        if artifact_type is not None:
            manifest["artifactType"] = artifact_type
        if subject is not None:
            manifest["subject"] = (
                subject.descriptor() if isinstance(subject, PushedManifest) else subject
            )
        raw = canonical_json(manifest)
        digest = self.put_manifest(repo, tag or sha256_digest(raw), raw, media_type)
        return PushedManifest(
            repo=repo,
            tag=tag,
            digest=digest,
            media_type=media_type,
            raw=raw,
            config=config,
            layers=layer_blobs,
            children=(),
            platform=platform,
            blobs=frozenset({config.digest, *(blob.digest for blob in layer_blobs)}),
        )

    def push_index(
        self,
        repo: str,
        tag: str | None,
        children: list[PushedManifest],
        *,
        oci: bool = True,
        annotations: dict[str, str] | None = None,
    ) -> PushedManifest:
        """Push an OCI image index (or, with ``oci=False``, a Docker manifest list v2).

        ``children`` must already be in ``repo``, usually pushed untagged; each entry carries
        the child's platform.
        """
        if not oci and annotations:
            raise ValueError("a Docker manifest list has no annotations")
        for child in children:
            if child.repo != repo:
                raise ValueError(f"child {child.digest} was pushed to {child.repo}, not {repo}")
        media_type = OCI_INDEX if oci else DOCKER_LIST
        index: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [child.descriptor(with_platform=True) for child in children],
        }
        if annotations:
            index["annotations"] = annotations
        raw = canonical_json(index)
        digest = self.put_manifest(repo, tag or sha256_digest(raw), raw, media_type)
        needed = {child.digest for child in children}
        for child in children:
            needed |= child.blobs
        return PushedManifest(
            repo=repo,
            tag=tag,
            digest=digest,
            media_type=media_type,
            raw=raw,
            config=None,
            layers=(),
            children=tuple(children),
            platform=None,
            blobs=frozenset(needed),
        )

    def put_manifest(self, repo: str, reference: str, raw: bytes, media_type: str) -> str:
        """PUT ``raw`` under a tag or digest; return its digest (checked against the registry)."""
        digest = sha256_digest(raw)
        response = _expect(
            self.client.put(
                f"/v2/{repo}/manifests/{reference}",
                content=raw,
                headers={"Content-Type": media_type},
            ),
            201,
        )
        _check_digest(response, digest)
        return digest

    def tag(self, repo: str, tag: str, manifest: PushedManifest) -> None:
        """Point ``tag`` at the same manifest bytes (same digest)."""
        self.put_manifest(repo, tag, manifest.raw, manifest.media_type)

    def mount(self, repo: str, digest: str, from_repo: str) -> None:
        """Cross-repository blob mount; 201 only (a 202 means the registry refused to mount)."""
        _expect(
            self.client.post(
                f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": from_repo}
            ),
            201,
        )

    def delete_manifest(self, repo: str, digest: str) -> None:
        """DELETE by digest: also removes every tag of ``repo`` pointing at it."""
        _expect(self.client.delete(f"/v2/{repo}/manifests/{digest}"), 202)

    def get_manifest(self, repo: str, ref: str) -> tuple[str, str, bytes]:
        """(digest computed from the bytes received, Content-Type, bytes) of a tag or digest."""
        response = _expect(
            self.client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT}),
            200,
        )
        digest = sha256_digest(response.content)
        _check_digest(response, digest)
        return digest, response.headers["Content-Type"], response.content
