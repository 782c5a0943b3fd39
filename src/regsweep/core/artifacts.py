"""How an artifact (signature, attestation, SBOM) is tied to the manifest it describes (pure).

An artifact lives and dies with its subject: it is kept exactly as long as the subject is
kept, whatever its own age or tag name, and deleted before it. Kept alone it is clutter no
tool ever cleans (an orphan); deleted alone it leaves a kept image unsigned, and a
signed-only admission policy then refuses an image that is still in use. Deleting the
artifact first means an interrupted run never leaves an orphan behind.

Four ties, each within one repository:

- OCI 1.1 ``subject``: the artifact manifest names its subject (``oras attach``, cosign
  and notation on OCI 1.1 registries);
- cosign's tag scheme: ``sha256-<hex>.sig``, ``.att`` and ``.sbom`` tag the signature,
  attestation or SBOM of ``sha256:<hex>``;
- the OCI referrers tag schema: ``sha256-<hex>`` tags the index that lists the referrers
  of ``sha256:<hex>`` on registries without the referrers API (distribution 2.8);
- buildx attestations: an index entry annotated ``vnd.docker.reference.type:
  attestation-manifest`` (platform ``unknown/unknown``) describes the entry of the same
  index named by ``vnd.docker.reference.digest``. Only the index records this tie, so an
  attestation lives and dies with its index (as its child): kept for the platform alone,
  it would outlive the index and be an orphan no later run could recognise. The tie still
  orders the deletes: the attestation goes before the platform it describes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from regsweep.core.model import Descriptor, Digest, Manifest, Repository, parse_digest

ATTESTATION_TYPE = "vnd.docker.reference.type"
ATTESTATION_MANIFEST = "attestation-manifest"
ATTESTATION_SUBJECT = "vnd.docker.reference.digest"

#: ``sha256-<hex>`` (referrers tag schema) or ``sha256-<hex>.sig|.att|.sbom`` (cosign).
_ARTIFACT_TAG = re.compile(r"sha256-([0-9a-f]{64})(?:\.(?:sig|att|sbom))?")


@dataclass(frozen=True, slots=True, order=True)
class ArtifactLink:
    """``artifact`` describes ``subject``; ``via`` says how, in words."""

    artifact: Digest
    subject: Digest
    via: str
    #: False for a buildx attestation, which follows its index instead (see above)
    follows_subject: bool = True


def tag_subject(tag: str) -> Digest | None:
    """The subject an artifact tag names, or None for any other tag.

    These tags are decided by their subject, never by the policy's tag rules: matched by
    the age rule, a signature tag would be deleted under an image that is kept; counted by
    "keep the last N", signatures would take the places of the images they sign.
    """
    match = _ARTIFACT_TAG.fullmatch(tag)
    return Digest(f"sha256:{match.group(1)}") if match else None


def attestation_subject(descriptor: Descriptor) -> Digest | None:
    """The manifest a buildx attestation entry of an index describes, or None."""
    if descriptor.annotations.get(ATTESTATION_TYPE) != ATTESTATION_MANIFEST:
        return None
    try:
        return parse_digest(descriptor.annotations.get(ATTESTATION_SUBJECT, ""))
    except ValueError:
        return None


def artifact_links(
    repository: Repository, manifests: Mapping[Digest, Manifest]
) -> tuple[ArtifactLink, ...]:
    """Every tie between an artifact and its subject in ``repository``, sorted."""
    links: set[ArtifactLink] = set()
    for digest in repository.revisions:
        manifest = manifests.get(digest)
        if manifest is None:
            continue
        if manifest.subject is not None:
            links.add(ArtifactLink(digest, manifest.subject, "OCI subject"))
        for child in manifest.children:
            described = attestation_subject(child)
            if described is not None:
                via = f"buildx attestation in index {digest}"
                links.add(ArtifactLink(child.digest, described, via, follows_subject=False))
    for tag in repository.tags.values():
        subject = tag_subject(tag.name)
        if subject is not None:
            links.add(ArtifactLink(tag.digest, subject, f"tag {tag.name}"))
    return tuple(sorted(links))


def by_subject(links: Iterable[ArtifactLink]) -> dict[Digest, list[Digest]]:
    """Each subject -> the artifacts that follow it: what keeping the subject keeps."""
    out: dict[Digest, list[Digest]] = defaultdict(list)
    for link in links:
        if link.follows_subject:
            out[link.subject].append(link.artifact)
    return out


def by_artifact(links: Iterable[ArtifactLink]) -> dict[Digest, list[ArtifactLink]]:
    """Each artifact -> its ties (a signature may be both tagged and a referrer)."""
    out: dict[Digest, list[ArtifactLink]] = defaultdict(list)
    for link in links:
        out[link.artifact].append(link)
    return out
