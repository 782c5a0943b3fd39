"""Hypothesis strategies for random inventories and policies.

Inventories are built the way content addressing forces real ones to be: a manifest can only
reference (as a child or as a ``subject``) manifests that existed before it, so the graph is
acyclic. Everything else is deliberately messy: nested repository names, tags sharing a
digest, layers shared between images and repositories, indexes whose children are (or are
not) revisions of the repository, referrers whose subject is missing, manifests whose blob is
missing or could not be parsed, push times unknown, in the future or exactly on a boundary.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from regsweep.core import mediatypes
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest, Repository, Tag, digest_hex
from regsweep.policy.rules import DEFAULT_EXCLUDE_TAGS, Policy, PolicySet

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

#: Overlapping, nested names so that scope patterns hit some repositories and miss others.
REPOSITORY_NAMES = (
    "app",
    "team",
    "team/app",
    "team/api",
    "team/app/sub",
    "a/b/c",
    "web-ui",
    "x_y.z",
)
#: Release-like and build-like names (both sides of the default exclude pattern).
TAG_NAMES = (
    "latest",
    "main",
    "v1.2.3",
    "1.0",
    "2",
    "feature-x",
    "pr-12",
    "sha-abc123",
    "build-7",
    "old",
    "prod-1",
    "preprod",
    "keep-me",
    "build-keep",
    "1.2.3",
    "1.10.0",
    "1.9.0",
    "2.0.0-rc1",
    "01.2.3",
)
#: Ages in seconds that sit on the policy boundaries (grace 1h, max age 1d / 30d).
BOUNDARY_AGES = (
    -3600,
    0,
    1,
    3599,
    3600,
    3601,
    86399,
    86400,
    86401,
    30 * 86400,
    30 * 86400 + 1,
    40 * 86400,
    4000 * 86400,
)


def digest_of(label: str) -> Digest:
    return Digest("sha256:" + hashlib.sha256(label.encode()).hexdigest())


def _ago(seconds: int) -> datetime:
    return NOW - timedelta(seconds=seconds)


#: Mostly older than every grace and most max ages, so that plans have work to do; the
#: boundaries and the young (or future: clock skew) are drawn too.
AGES = st.one_of(
    st.integers(2 * 86400, 100 * 86400),
    st.sampled_from(BOUNDARY_AGES),
    st.integers(2 * 86400, 100 * 86400),
    st.integers(-86400, 2 * 86400),
)
#: A push time relative to :data:`NOW`; ``None`` (unknown) about one time in ten. (None is
#: not the first choice: Hypothesis favours it, and it keeps everything.)
TIMES = st.tuples(st.integers(0, 9), AGES).map(lambda p: None if p[0] == 9 else _ago(p[1]))

_COMPONENTS = ("a", "b1", "app", "x-y", "c_d", "z.z", "n__m", "q--r")
REPOSITORY_NAMES_ANY = st.one_of(
    st.sampled_from(REPOSITORY_NAMES),
    st.lists(st.sampled_from(_COMPONENTS), min_size=1, max_size=3).map("/".join),
)
TAG_NAMES_ANY = st.one_of(
    st.sampled_from(TAG_NAMES),
    st.tuples(st.sampled_from("aZ9_"), st.text("a.Z-9_", max_size=8)).map("".join),
)


@dataclass(frozen=True)
class _Node:
    digest: Digest
    manifest: Manifest | None  # None: blob missing or unparsable
    blob_present: bool


_KINDS = st.sampled_from(["image", "index", "referrer", "image", "artifact", "list", "referrer"])
_STATES = st.sampled_from(["ok"] * 18 + ["missing", "unparsed"])
_PICKS = st.lists(st.integers(0, 15), max_size=3, unique=True)
_PICK = st.integers(0, 15)
_SIZES = st.integers(100, 4000)


def _attestation(digest: Digest, describes: Digest) -> Descriptor:
    annotations = {
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": describes,
    }
    return Descriptor(mediatypes.OCI_MANIFEST, digest, 1, "unknown/unknown", annotations)


def _pick(items: list[Digest], index: int) -> Digest:
    """Strategies are built once (fast); indexes wrap onto whatever list this example has."""
    return items[index % len(items)]


@st.composite
def _manifests(draw: st.DrawFn, blobs: list[Digest]) -> list[_Node]:
    """Manifests in creation order; each references only earlier ones (or missing ones)."""
    nodes: list[_Node] = []
    for i in range(draw(st.integers(1, 12))):
        digest = digest_of(f"manifest-{i}")
        # a dangling reference is among the choices, last: examples shrink towards real ones
        earlier = [n.digest for n in nodes] + [digest_of(f"missing-{i}")]
        kind = draw(_KINDS)
        size = draw(_SIZES)
        layers = tuple(
            Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b, 1)
            for b in dict.fromkeys(_pick(blobs, j) for j in draw(_PICKS))
        )
        config = _pick(blobs, draw(_PICK))
        manifest: Manifest
        if kind in ("index", "list"):
            picked = dict.fromkeys(_pick(earlier, j) for j in draw(_PICKS))
            children = tuple(
                Descriptor(mediatypes.OCI_MANIFEST, c, 1, platform=f"linux/arch{j}")
                for j, c in enumerate(picked)
            )
            attestation = _pick(earlier, draw(_PICK))
            if picked and attestation not in picked and draw(st.booleans()):
                # buildx: an entry describing another entry of the same index
                children += (_attestation(attestation, describes=next(iter(picked))),)
            media_type = mediatypes.OCI_INDEX if kind == "index" else mediatypes.DOCKER_LIST
            manifest = Manifest(digest, media_type, size, children=children)
        elif kind == "referrer":
            manifest = Manifest(
                digest,
                mediatypes.OCI_MANIFEST,
                size,
                config=Descriptor(mediatypes.OCI_EMPTY, config, 2),
                layers=layers,
                subject=_pick(earlier, draw(_PICK)),
                artifact_type="application/vnd.dev.cosign.simplesigning.v1+json",
            )
        elif kind == "artifact":
            manifest = Manifest(
                digest,
                mediatypes.OCI_MANIFEST,
                size,
                config=Descriptor(HELM_CONFIG, config, 1),
                layers=layers,
            )
        else:
            config_descriptor = Descriptor(mediatypes.DOCKER_CONFIG, config, 1)
            manifest = Manifest(
                digest, mediatypes.DOCKER_MANIFEST, size, config=config_descriptor, layers=layers
            )
        state = draw(_STATES)
        nodes.append(
            _Node(digest, manifest if state == "ok" else None, blob_present=state != "missing")
        )
    return nodes


def _closure(start: set[Digest], manifests: dict[Digest, Manifest]) -> set[Digest]:
    """``start`` plus every child and subject, recursively.

    Children are what a registry insists on at push time; subjects are where signing tools
    put signatures and SBOMs (next to the image).
    """
    out: set[Digest] = set()
    stack = list(start)
    while stack:
        digest = stack.pop()
        if digest in out:
            continue
        out.add(digest)
        manifest = manifests.get(digest)
        if manifest is not None:
            stack.extend(c.digest for c in manifest.children)
            if manifest.subject is not None:
                stack.append(manifest.subject)
    return out


#: size of a config or layer blob; None one time in ten (already swept, or never uploaded)
_BLOB_SIZES = st.tuples(st.integers(0, 9), st.integers(0, 10**6)).map(
    lambda p: p[1] if p[0] else None
)
_REVISION_PICKS = st.lists(st.integers(0, 15), min_size=1, max_size=8, unique=True)
_ONE_IN_TEN = st.integers(0, 9).map(lambda n: n == 9)
_REPOSITORIES = st.lists(REPOSITORY_NAMES_ANY, min_size=1, max_size=4, unique=True)
_TAGS = st.lists(TAG_NAMES_ANY, max_size=7, unique=True)
_ARTIFACT_TAGS = st.lists(
    st.tuples(_PICK, _PICK, st.sampled_from([".sig", ".att", ".sbom", ""])), max_size=2
)


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    blobs = [digest_of(f"blob-{i}") for i in range(draw(st.integers(1, 8)))]
    nodes = draw(_manifests(blobs))
    manifests = {n.digest: n.manifest for n in nodes if n.manifest is not None}
    candidates = [n.digest for n in nodes]

    blob_sizes: dict[Digest, int] = {}
    for blob in blobs:
        size = draw(_BLOB_SIZES)
        if size is not None:
            blob_sizes[blob] = size
    for node in nodes:
        if node.blob_present:
            blob_sizes[node.digest] = node.manifest.size if node.manifest else 321

    repositories: dict[str, Repository] = {}
    for name in draw(_REPOSITORIES):
        chosen = {_pick(candidates, i) for i in draw(_REVISION_PICKS)}
        if draw(_ONE_IN_TEN):
            chosen.add(digest_of("missing-revision"))  # a revision with no manifest blob at all
        if draw(st.booleans()):
            chosen = _closure(chosen, manifests)
        revisions = {digest: draw(TIMES) for digest in sorted(chosen)}
        targets = sorted(revisions)
        if draw(_ONE_IN_TEN):
            targets = [digest_of("not a revision")]  # a tag whose manifest is not here (corrupt)
        tags: dict[str, Tag] = {}
        for tag_name in draw(_TAGS):
            # few distinct targets, so several tags often share one digest
            target = _pick(targets[:3], draw(_PICK))
            tags[tag_name] = Tag(name, tag_name, target, draw(TIMES))
        for subject_pick, target_pick, suffix in draw(_ARTIFACT_TAGS):
            # cosign / referrers tag schema: sha256-<subject hex>[.sig|.att|.sbom]; tags are
            # not content-addressed, so these may point anywhere (even in a cycle)
            subject = _pick([*sorted(revisions), digest_of("gone")], subject_pick)
            tag_name = f"sha256-{digest_hex(subject)}{suffix}"
            tags[tag_name] = Tag(name, tag_name, _pick(targets, target_pick), draw(TIMES))
        layers = frozenset(
            ref for d in revisions if d in manifests for ref in manifests[d].blob_references()
        )
        repositories[name] = Repository(name, tags, revisions, layers)
    return Inventory(repositories=repositories, manifests=manifests, blob_sizes=blob_sizes)


_EXCLUDE_TAGS = (None, DEFAULT_EXCLUDE_TAGS, "^v", "keep", "prod$", "^(main|latest)$")
# None is listed several times: most runs scope every repository, as most users do
_SCOPES = (None, None, None, ".*", "team/.*", "team", "app", "a/.*", "[a-z]+")
_EXCLUDE_REPOSITORIES = (None, None, None, "^team", "app", "sub$")
_MAX_AGES = (None, 0, 60, 3600, 86400, 30 * 86400)
_GRACES = (0, 60, 3600, 3600, 86400)
#: Digests a policy may pin: the first manifests :func:`inventories` makes, and one it never does.
_PINNABLE = [digest_of(f"manifest-{i}") for i in range(4)] + [digest_of("never pushed")]


@st.composite
def policies(draw: st.DrawFn, name: str = "default") -> Policy:
    def pattern(choices: tuple[str | None, ...]) -> re.Pattern[str] | None:
        chosen = draw(st.sampled_from(choices))
        return None if chosen is None else re.compile(chosen)

    max_age = draw(st.sampled_from(_MAX_AGES))
    return Policy(
        pushed_within=None if max_age is None else timedelta(seconds=max_age),
        exclude_tags=pattern(_EXCLUDE_TAGS),
        keep_last=draw(st.integers(0, 3)),
        repositories=pattern(_SCOPES),
        exclude_repositories=pattern(_EXCLUDE_REPOSITORIES),
        untagged_grace=timedelta(seconds=draw(st.sampled_from(_GRACES))),
        keep_versions=draw(st.integers(0, 2)),
        pinned=frozenset(draw(st.lists(st.sampled_from(_PINNABLE), max_size=2))),
        delete_orphan_artifacts=draw(st.booleans()),
        name=name,
    )


@st.composite
def policy_sets(draw: st.DrawFn) -> PolicySet:
    """Mostly one policy; sometimes several, whose scopes overlap (first match wins)."""
    count = draw(st.sampled_from([1, 1, 1, 2, 3]))
    return PolicySet(tuple(draw(policies(name=f"p{i}")) for i in range(count)))
