"""The inventory of a registry as plain, immutable values.

A registry is a set of repositories; each holds tags (name -> digest, with the time the tag
was last pushed) and revisions (the manifests that exist in it, with the time each was
first put there). Manifests are content-addressed, so they are parsed once per registry and
shared between repositories in :attr:`Inventory.manifests`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, NewType

from regsweep.core import mediatypes
from regsweep.core.damage import Defect, hides_manifests
from regsweep.core.packed_digests import place_in

if TYPE_CHECKING:
    from regsweep.core.pulls import TagActivity

Digest = NewType("Digest", str)

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def parse_digest(text: str, *, share: bool = True) -> Digest:
    """Return ``text`` as a :data:`Digest`, or raise ``ValueError``; the shared string
    (:func:`intern_digest`) unless not to ``share`` it.

    Only ``sha256:<64 lowercase hex>`` is accepted: it is the only algorithm distribution
    stores, and a strict form is what keeps a digest from ever becoming a path outside the
    storage root (``sha256:../../etc``). A digest already shared was checked when it was
    first met: a manifest's layers are mostly the blobs listed before it is read, and the
    lookup takes a fifth of the time of the match (0.2 against 1.2 us).
    """
    if share and (shared := _INTERNED.get(text)) is not None:
        return shared
    if not _DIGEST.fullmatch(text):
        raise ValueError(f"not a sha256 digest: {text[:80]!r}")
    return intern_digest(text) if share else Digest(text)


#: The shared string of every digest interned since :func:`forget_interned_digests`.
_INTERNED: dict[str, Digest] = {}


def intern_digest(text: str) -> Digest:
    """The one shared string for the digest ``text`` (already checked).

    A blob's digest is met several times in one registry (its file in the content store,
    each layer link to it, each manifest that references it): held as one string, not one
    per place (120 bytes each), a registry of a million blobs fits in a small container.
    The table is this module's, not ``sys.intern``'s, so that it can be let go of.
    """
    return _INTERNED.setdefault(text, Digest(text))


def shared_digest(text: str) -> Digest:
    """The shared string of the digest ``text`` when one is interned, else ``text`` itself,
    not added: for digests met once more after most of a registry's are interned (the
    native GC's blobs present, after its mark), where a table entry would only be held."""
    return _INTERNED.get(text) or Digest(text)


def forget_interned_digests() -> None:
    """Let go of the interning table once every digest is read (storage discovery and the
    native GC's mark call it).

    The strings stay shared where they are held; only the table goes, and it is not
    small: 3.7 MiB at 100,000 blobs (``tracemalloc``), ten times that at a million, held
    for the rest of the run for no lookup (``sys.intern``'s table never shrinks). A digest
    interned after is shared with those met after; equal strings compare equal either way.
    """
    _INTERNED.clear()


def sha256_digest(data: bytes) -> Digest:
    """The digest of ``data``: what a registry names the blob or manifest holding it."""
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def digest_hex(digest: Digest) -> str:
    """The 64 hex characters of a sha256 digest."""
    return digest[len("sha256:") :]


#: The annotations of a descriptor or manifest that has none: one shared empty mapping
#: instead of an empty dict in each of the millions of descriptors of a big registry.
NO_ANNOTATIONS: Mapping[str, str] = MappingProxyType({})


def _no_annotations() -> Mapping[str, str]:
    return NO_ANNOTATIONS


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A reference from a manifest to a blob or to another manifest."""

    media_type: str
    digest: Digest
    size: int
    platform: str | None = None
    annotations: Mapping[str, str] = field(
        default_factory=_no_annotations, compare=False, hash=False
    )


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed manifest: what it is and everything it references."""

    digest: Digest
    media_type: str
    size: int
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Digest | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(
        default_factory=_no_annotations, compare=False, hash=False
    )

    @property
    def is_index(self) -> bool:
        """An image index or manifest list: its references are manifests, not blobs."""
        return mediatypes.is_index(self.media_type)

    def blob_references(self) -> tuple[Digest, ...]:
        """Digests this manifest needs one level down: config and layers, or children.

        This is exactly what the registry's garbage collector marks for a manifest, so byte
        counts computed from it agree with what ``garbage-collect`` frees.
        """
        refs = [d.digest for d in self.children]
        if self.config is not None:
            refs.append(self.config.digest)
        refs.extend(d.digest for d in self.layers)
        return tuple(refs)


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag as the registry holds it now.

    ``pushed_at`` is the last time the tag was PUT (a re-push of the same digest counts),
    never the first push nor the image's build time; ``None`` when no push time is known.
    ``activity`` is what the pull store knows of the tag; ``None`` when no store was read.
    """

    repository: str
    name: str
    digest: Digest
    pushed_at: datetime | None
    activity: TagActivity | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Repository:
    """One repository: its tags, its manifest revisions and the blobs linked into it."""

    name: str
    tags: Mapping[str, Tag] = field(default_factory=dict)
    #: digest -> when the manifest was first put in this repository (None: unknown)
    revisions: Mapping[Digest, datetime | None] = field(default_factory=dict)
    #: blobs (configs and layers) this repository may serve: its ``_layers`` links, in
    #: digest order; :meth:`links` looks one up. A tuple (or, once the manifests are on
    #: disk, :class:`~regsweep.core.packed_digests.PackedDigests`), not a frozenset: a
    #: set's table took four times the memory (3.6 MiB for the links of 100,000 blobs),
    #: held the whole run for the few lookups of ``verify`` and the damaged repositories.
    layers: Sequence[Digest] = ()
    #: the last write of its tag, revision and layer links and uploads; None when unknown
    #: (the API)
    last_write: datetime | None = None

    def links(self, digest: Digest) -> bool:
        """Whether ``digest`` is linked into the repository (one of its :attr:`layers`)."""
        return place_in(self.layers, digest) is not None


@dataclass(frozen=True, slots=True)
class Problem:
    """Something found during discovery that was skipped: reported, never fatal.

    Storage discovery says which kind of damage it is (``defect``, see
    :mod:`regsweep.core.damage`), which repository it is in and what it concerns there
    (``subject``: a tag name or a digest), so the planner can skip that repository alone
    and ``verify`` can name the file to repair under the tag it breaks.
    """

    location: str
    message: str
    defect: Defect | None = None
    repository: str | None = None
    subject: str | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class AgedBy(Enum):
    """What a tag's and a revision's time is, in the words the plan's reasons use.

    Storage has the push time; the API has only the image's build time, and a reason that
    said "pushed 2531d ago" of a base image built years ago and pushed yesterday would
    hide why the tag goes.
    """

    PUSH = "pushed"
    BUILD = "built"

    @property
    def unknown(self) -> str:
        """The reason of a tag kept for having no time."""
        return "push time unknown" if self is AgedBy.PUSH else "build time unknown"

    def of(self, tag: Tag) -> AgedBy:
        """What ``tag``'s own time is: over the API, a push the pull store recorded stands
        for the build time (:attr:`TagActivity.aged_by_push`), and is called a push."""
        return AgedBy.PUSH if tag.activity is not None and tag.activity.aged_by_push else self


def first_problem(problems: Sequence[Problem]) -> str:
    """The first of ``problems``, and how many more, in one line."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything discovered in one registry."""

    repositories: Mapping[str, Repository]
    manifests: Mapping[Digest, Manifest]
    #: size on storage of every blob in the registry's content store
    blob_sizes: Mapping[Digest, int]
    problems: tuple[Problem, ...] = ()
    #: what :attr:`Tag.pushed_at` holds: the push time when read from storage; over the
    #: API, which has no push time, the image's build time (said in the plan)
    age_source: str = "push time"
    #: the same, as the plan's reasons say it
    aged_by: AgedBy = AgedBy.PUSH

    @property
    def tag_count(self) -> int:
        """Tags in every repository discovered."""
        return sum(len(r.tags) for r in self.repositories.values())

    def damage(self) -> dict[str, list[Problem]]:
        """The repositories discovery could not read whole, each with the problems that
        may hide a manifest in it (see :func:`regsweep.core.damage.hides_manifests`)."""
        damaged: dict[str, list[Problem]] = {}
        for problem in self.problems:
            defect, repository = problem.defect, problem.repository
            if repository is not None and defect is not None and hides_manifests(defect):
                damaged.setdefault(repository, []).append(problem)
        return damaged
