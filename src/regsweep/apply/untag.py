"""Delete one tag over the API without touching the other tags on the same digest.

``DELETE /v2/<name>/manifests/<digest>`` removes the manifest AND every tag pointing at
it, so an old tag sharing its digest with ``latest`` can never be removed by digest. Two
ways remain:

- ``tag-delete``: ``DELETE /v2/<name>/manifests/<tag>`` (distribution 3, zot, Harbor,
  GHCR...). distribution 2.x answers 400 DIGEST_INVALID.
- ``throwaway`` (regclient's method): PUT a unique throw-away manifest onto the tag, so
  the tag alone points at it, then DELETE that digest (taking only this tag with it) and
  the throw-away's config blob.

Which one works is detected once per registry, on regsweep's own objects only: a
throw-away manifest is pushed under two probe tags, one probe tag is deleted by name, and
the other must still resolve. A registry whose "tag delete" deletes the manifest (and so
the siblings) fails that check and is cleaned with the throw-away method instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from regsweep.apply.outcome import Outcome
from regsweep.core import mediatypes
from regsweep.core.errors import RegistryAPIError
from regsweep.core.model import Digest, sha256_digest
from regsweep.sources.api.errors import TagDeleteUnsupportedError

if TYPE_CHECKING:
    from regsweep.sources.api.client import RegistryClient

log = logging.getLogger(__name__)

THROWAWAY_ANNOTATION = "io.regsweep.throwaway"
#: The build time a throw-away manifest claims. When an untag is cut short after the PUT
#: (the registry failed the DELETE that follows), the tag is left on the throw-away: dated
#: long ago, it is expired by the next run under the same policy and removed then, where
#: dated now it would look like a fresh push and stay for the whole retention period.
THROWAWAY_CREATED = "1980-01-01T00:00:00Z"


#: Times a throw-away is put and deleted again when the registry leaves the tag behind.
THROWAWAY_ATTEMPTS = 3

#: Answers that mean "you may not push here": unauthorised, denied, read-only (None: an
#: answer regsweep cannot follow, such as an upload Location on another origin).
_PUSH_REFUSED = frozenset({None, 401, 403, 405})


class UntagMethod(StrEnum):
    """How a tag is removed over the API without deleting its digest (which would take
    every other tag on it along, distribution PR #1656)."""

    AUTO = "auto"
    TAG_DELETE = "tag-delete"
    THROWAWAY = "throwaway"
    #: neither works (no push permission and no tag delete): such tags are skipped
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Untagged:
    """What became of one tag, in the outcomes every action reports."""

    outcome: Outcome
    detail: str


@dataclass(frozen=True, slots=True)
class _Throwaway:
    config: bytes
    raw: bytes

    @classmethod
    def make(cls, why: str) -> _Throwaway:
        """A manifest no one else can have: its config carries a random nonce."""
        config = json.dumps(
            {
                "architecture": "none",
                "os": "none",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                THROWAWAY_ANNOTATION: secrets.token_hex(16),
            },
            sort_keys=True,
        ).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [],
            "annotations": {
                THROWAWAY_ANNOTATION: why,
                "org.opencontainers.image.created": THROWAWAY_CREATED,
            },
        }
        return cls(config, json.dumps(manifest, sort_keys=True).encode())


class Untagger:
    """Untag over the API, choosing the method once per registry (or as forced)."""

    def __init__(self, client: RegistryClient, method: UntagMethod = UntagMethod.AUTO) -> None:
        self.client = client
        self._method: UntagMethod | None = None if method is UntagMethod.AUTO else method
        self._forced = method is not UntagMethod.AUTO
        self._lock = asyncio.Lock()
        self._repositories: dict[str, asyncio.Lock] = {}

    async def method(self, repository: str) -> UntagMethod:
        """The method in use, detected in ``repository`` on first call (see module doc)."""
        async with self._lock:
            if self._method is None:
                detected = await self._detect(repository)
                log.info("untag method for %s: %s", self.client.url, detected.value)
                self._method = detected
            return self._method

    async def deletes_by_name(self, repository: str) -> bool:
        """Whether this registry removes a tag by name (else only with its manifest, or
        through a throw-away manifest)."""
        return await self.method(repository) is UntagMethod.TAG_DELETE

    async def untag(self, repository: str, tag: str, digest: Digest) -> Untagged:
        """Remove ``repository:tag`` alone, if it still points at ``digest``.

        Its manifest stays: by name where the registry can, else through a throw-away
        manifest. The tag is re-resolved (one HEAD) right before: a tag re-pushed since
        planning is left alone.
        """
        head = await self.client.head_manifest(repository, tag)
        if head is None:
            return Untagged(Outcome.ALREADY_GONE, "tag no longer exists")
        if head.digest != digest:
            return Untagged(Outcome.SKIPPED, f"re-pushed since planning: now {head.digest}")
        method = await self.method(repository)
        if method is UntagMethod.TAG_DELETE:
            try:
                deleted = await self.client.delete_tag(repository, tag)
            except TagDeleteUnsupportedError:
                if self._forced:
                    raise
                method = self._method = UntagMethod.THROWAWAY
            else:
                if not deleted:
                    return Untagged(Outcome.ALREADY_GONE, "tag no longer exists")
                return Untagged(Outcome.DELETED, "tag deleted by name")
        if method is UntagMethod.NONE:
            return Untagged(
                Outcome.SKIPPED,
                "its manifest stays, and this registry can neither delete a tag by name "
                "nor accept a throw-away manifest",
            )
        return await self._throwaway(repository, tag)

    async def _throwaway(self, repository: str, tag: str) -> Untagged:
        """Move the tag to a throw-away manifest and delete that, one repository at a time.

        distribution 2.x deletes a manifest's revision first, then reads every tag link of
        the repository to untag those pointing at it. A link being rewritten at that moment
        (another throw-away PUT in the same repository) reads as garbage: the DELETE fails
        with the revision gone and the tag left pointing at nothing, a tag that no longer
        pulls (seen under the randomized end-to-end test). Hence one throw-away at a time
        per repository, and a check that the tag is really gone, redoing it if not.
        """
        throwaway = _Throwaway.make(f"regsweep removes tag {tag}")
        lock = self._repositories.setdefault(repository, asyncio.Lock())
        async with lock:
            config = await self.client.upload_blob(repository, throwaway.config)
            for _attempt in range(THROWAWAY_ATTEMPTS):
                digest = await self.client.put_manifest(
                    repository, tag, throwaway.raw, mediatypes.OCI_MANIFEST
                )
                await self.client.delete_manifest(repository, digest)
                if not await self._dangling(repository, tag):
                    break
                log.warning("%s:%s still listed after its throw-away was deleted", repository, tag)
            else:
                raise RegistryAPIError(
                    f"{repository}:{tag} is still listed, pointing at the deleted throw-away "
                    f"manifest {digest}, after {THROWAWAY_ATTEMPTS} attempts"
                )
            await self._delete_blob_quietly(repository, config)
        return Untagged(Outcome.DELETED, f"tag moved to throw-away manifest {digest}, then deleted")

    async def _dangling(self, repository: str, tag: str) -> bool:
        """The tag is still listed but resolves to nothing: its DELETE stopped half way."""
        if tag not in await self.client.list_tags(repository):
            return False
        return await self.client.head_manifest(repository, tag) is None

    async def _delete_blob_quietly(self, repository: str, digest: Digest) -> None:
        """The throw-away config is unique, so removing it can break nothing; failing to is
        only a leftover of a few hundred bytes for garbage collection."""
        try:
            await self.client.delete_blob(repository, digest)
        except RegistryAPIError as exc:
            log.warning("throw-away config %s left in %s: %s", digest, repository, exc)

    async def _detect(self, repository: str) -> UntagMethod:
        """Probe on regsweep's own throw-away manifest under two probe tags (module doc).

        Deletes must work first: otherwise the probe tags could not be removed again.
        """
        await self.client.check_delete_enabled(repository)
        probe = f"regsweep-probe-{secrets.token_hex(6)}"
        first, second = f"{probe}-a", f"{probe}-b"
        throwaway = _Throwaway.make("regsweep probes how this registry deletes tags")
        try:
            config = await self.client.upload_blob(repository, throwaway.config)
            digest = await self.client.put_manifest(
                repository, first, throwaway.raw, mediatypes.OCI_MANIFEST
            )
            await self.client.put_manifest(
                repository, second, throwaway.raw, mediatypes.OCI_MANIFEST
            )
        except RegistryAPIError as exc:
            if exc.status not in _PUSH_REFUSED:
                raise  # failing for now, or for another reason: says nothing of what it allows
            log.warning("cannot push a throw-away manifest to %s: %s", repository, exc)
            return await self._detect_without_push(repository)
        try:
            try:
                await self.client.delete_tag(repository, first)
            except TagDeleteUnsupportedError:
                return UntagMethod.THROWAWAY
            sibling = await self.client.head_manifest(repository, second)
            if sibling is None or sibling.digest != digest:
                log.warning(
                    "%s: deleting a tag by name also removed its sibling tag; using the "
                    "throw-away method",
                    self.client.url,
                )
                return UntagMethod.THROWAWAY
            return UntagMethod.TAG_DELETE
        finally:
            await self.client.delete_manifest(repository, digest)
            await self._delete_blob_quietly(repository, config)

    async def _detect_without_push(self, repository: str) -> UntagMethod:
        """Without push rights only tag delete can work: ask for a tag nobody has."""
        try:
            await self.client.delete_tag(repository, f"regsweep-probe-{secrets.token_hex(6)}")
        except TagDeleteUnsupportedError:
            return UntagMethod.NONE
        return UntagMethod.TAG_DELETE
