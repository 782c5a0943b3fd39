"""Discover a registry's inventory over its API: catalog, tags, manifests and build times.

Produces the same :class:`~regsweep.core.model.Inventory` as storage discovery, with two
differences the plan states: ``Tag.pushed_at`` is the image's build time (see
:mod:`~regsweep.sources.api.ages`), and a repository's revisions are only the manifests
reachable from its tags (the API cannot list untagged manifests, so regsweep never deletes
one it did not untag itself in the same plan).

Artifacts are found the ways the registry allows: cosign tags and the referrers tag schema
are tags; the subject each names, and the subject of every OCI referrer, is looked up by
digest, so that an untagged subject is not mistaken for a missing one (which would make its
signature an orphan, and delete it); and where the registry has the referrers API (not
distribution 2.8), every manifest's untagged referrers are listed through it.

Only what a decision needs is asked (the budget is stated in
:mod:`~regsweep.sources.api.budget`): a manifest is read once per digest for the whole
registry (content-addressed, its bytes cannot change), one known from elsewhere is only
checked to exist where it is named (``HEAD``), and a build time is read only for the tags
whose age a rule needs (``ages_needed``) and the manifests they reach.

Every request of a repository runs concurrently under the client's bound. Anything that
cannot be read is reported as a problem and left out, which always errs on the side of
keeping: an unreadable manifest is never deleted, and a repository with an unusable tag
name is skipped whole (its other tags' manifests might be that tag's too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from regsweep.core import mediatypes
from regsweep.core.artifacts import tag_subject
from regsweep.core.errors import RegistryAPIError
from regsweep.core.manifests import ManifestError, parse_manifest
from regsweep.core.model import (
    AgedBy,
    Digest,
    Inventory,
    Manifest,
    Problem,
    Repository,
    Tag,
)
from regsweep.core.names import is_repository_name, is_tag_name
from regsweep.core.sorted_sizes import SortedSizes
from regsweep.sources.api import ages

if TYPE_CHECKING:
    from regsweep.sources.api.client import RegistryClient

log = logging.getLogger(__name__)

AGE_SOURCE = (
    "build time (org.opencontainers.image.created annotation, else the image config's "
    "created; an index: its newest platform), because the registry API has no push time"
)
#: Image configs are a few KB; a bigger "config" is an artifact's payload, not worth reading.
MAX_CONFIG_SIZE = 1 << 20
#: Index nesting followed (an index of indexes is legal; deeper is pathological).
MAX_DEPTH = 4


class Check(Enum):
    """What a verification checks exists in each repository it reads."""

    #: every tag and index child: the manifests a pull resolves
    MANIFESTS = "manifests"
    #: those, and every config and layer they need (one ``HEAD`` per distinct blob)
    BLOBS = "blobs"


Progress = Callable[[str], None]
#: The tags of a repository (name -> digest) whose build time a rule needs to decide them.
AgesNeeded = Callable[[str, Mapping[str, Digest]], Collection[str]]


@dataclass
class _Repo:
    name: str
    tags: dict[str, Digest] = field(default_factory=dict)
    revisions: set[Digest] = field(default_factory=set)
    seen: dict[Digest, asyncio.Task[None]] = field(default_factory=dict)
    #: subjects named by artifacts (OCI subject, artifact tags), looked up once tags are read
    subjects: set[Digest] = field(default_factory=set)
    #: manifests whose referrers were asked for (referrers API)
    asked: dict[Digest, asyncio.Task[None]] = field(default_factory=dict)


class _Scanner:
    """Shared state of one discovery: manifests and build times are read once per digest.

    ``known`` are manifests read earlier in the same run. ``verifying`` asks what a pull
    needs, checked to exist in each repository: every tag and index child (``HEAD`` where
    the bytes are known), no build time, no artifact.
    """

    def __init__(
        self, client: RegistryClient, known: Mapping[Digest, Manifest], *, verifying: bool
    ) -> None:
        self.client = client
        self.known = known
        self.verifying = verifying
        self.manifests: dict[Digest, Manifest] = {}
        self.problems: list[Problem] = []
        self._configs: dict[Digest, asyncio.Task[datetime | None]] = {}
        #: whether the registry has the referrers API: unknown until the first answer
        self._referrers_api: bool | None = None
        self._probe = asyncio.Lock()

    async def repository(self, name: str) -> _Repo | None:
        repo = _Repo(name)
        tags = await self.client.list_tags(name)
        bad = [t for t in tags if not is_tag_name(t)]
        if bad:
            self.problems.append(
                Problem(name, f"repository skipped: invalid tag name {bad[0][:80]!r}")
            )
            return None
        await asyncio.gather(*(self._tag(repo, tag) for tag in tags))
        if not self.verifying:  # a pull needs no artifact
            repo.subjects.update(s for t in repo.tags if (s := tag_subject(t)) is not None)
        while True:
            # Subjects only once every tag is read: most are tagged images, read already.
            for subject in sorted(repo.subjects - repo.revisions - repo.seen.keys()):
                repo.seen[subject] = asyncio.create_task(self._child(repo, subject, 1, "subject"))
            if self._referrers_api is not False and not self.verifying:
                for digest in sorted(repo.revisions - repo.asked.keys()):
                    repo.asked[digest] = asyncio.create_task(self._referrers(repo, digest))
            tasks = [*repo.seen.values(), *repo.asked.values()]
            if not (pending := [t for t in tasks if not t.done()]):
                return repo
            await asyncio.gather(*pending)

    async def _tag(self, repo: _Repo, tag: str) -> None:
        """Resolve a tag: one GET (digest and bytes), or when verifying one HEAD, and a GET
        only for a digest not read yet in this run."""
        if self.verifying:
            head = await self.client.head_manifest(repo.name, tag)
            if head is None:
                log.info("%s:%s disappeared during verification", repo.name, tag)
                return
            if self._known(head.digest) is not None:
                repo.tags[tag] = head.digest
                repo.revisions.add(head.digest)
                await self._follow(repo, head.digest, 0)
                return
        fetched = await self.client.get_manifest(repo.name, tag)
        if fetched is None:
            log.info("%s:%s disappeared during discovery", repo.name, tag)
            return
        repo.tags[tag] = fetched.digest
        self._parse(repo, fetched.digest, fetched.raw)
        await self._follow(repo, fetched.digest, 0)

    def _known(self, digest: Digest) -> Manifest | None:
        """The manifest if read already in this run (its bytes cannot have changed)."""
        manifest = self.manifests.get(digest)
        if manifest is None and (manifest := self.known.get(digest)) is not None:
            self.manifests[digest] = manifest
        return manifest

    def _parse(self, repo: _Repo, digest: Digest, raw: bytes) -> None:
        repo.revisions.add(digest)
        if self._known(digest) is None:
            try:
                self.manifests[digest] = parse_manifest(digest, raw)
            except ManifestError as exc:
                self.problems.append(
                    Problem(f"{repo.name}@{digest}", f"manifest not parsed: {exc}")
                )
                return
        subject = self.manifests[digest].subject
        if subject is not None and not self.verifying:
            # The API cannot list untagged manifests, so a signature's subject must be
            # looked up: otherwise an untagged subject would look missing and its
            # signature orphaned (and deleted).
            repo.subjects.add(subject)

    async def _follow(self, repo: _Repo, digest: Digest, depth: int) -> None:
        """Read the children of an index (once per repository), recursively."""
        manifest = self.manifests.get(digest)
        if manifest is None or not manifest.is_index:
            return
        if depth >= MAX_DEPTH:
            self.problems.append(Problem(f"{repo.name}@{digest}", "indexes nested too deep"))
            return
        for child in manifest.children:
            if child.digest not in repo.seen:
                repo.seen[child.digest] = asyncio.create_task(
                    self._child(repo, child.digest, depth + 1, "child")
                )

    async def _child(self, repo: _Repo, digest: Digest, depth: int, role: str) -> None:
        """Read a manifest referenced by another (an index's child, a subject, a referrer).

        Only an index's children are known to be in the repository (the registry checks
        them when the index is pushed), except when verifying; a subject or a referrer read
        in another repository is checked to exist in this one (a HEAD: its bytes are known).
        """
        if digest in repo.revisions:
            pass
        elif (manifest := self._known(digest)) is not None:
            trusted = role == "child" and not self.verifying
            if not trusted and await self.client.head_manifest(repo.name, digest) is None:
                self._missing(repo, digest, role)
                return
            repo.revisions.add(digest)
            if manifest.subject is not None and not self.verifying:
                repo.subjects.add(manifest.subject)
        else:
            fetched = await self.client.get_manifest(repo.name, digest)
            if fetched is None:
                self._missing(repo, digest, role)
                return
            self._parse(repo, digest, fetched.raw)
        await self._follow(repo, digest, depth)

    def _missing(self, repo: _Repo, digest: Digest, role: str) -> None:
        if role == "child":
            self.problems.append(Problem(f"{repo.name}@{digest}", "child of an index is missing"))

    async def _referrers(self, repo: _Repo, digest: Digest) -> None:
        """Read the untagged referrers of ``digest`` through the referrers API, if any.

        The first answer tells whether the registry has the API at all; until then the
        other requests wait, so a registry without it is asked once, not once per manifest.
        """
        if self._referrers_api is None:
            async with self._probe:
                if self._referrers_api is None:
                    found = await self.client.list_referrers(repo.name, digest)
                    self._referrers_api = found is not None
                    self._read_referrers(repo, found or [])
                    return
        if self._referrers_api:
            self._read_referrers(repo, await self.client.list_referrers(repo.name, digest) or [])

    def _read_referrers(self, repo: _Repo, referrers: list[Digest]) -> None:
        for referrer in referrers:
            if referrer not in repo.seen and referrer not in repo.revisions:
                repo.seen[referrer] = asyncio.create_task(
                    self._child(repo, referrer, 1, "referrer")
                )

    def aged(self, repos: list[_Repo], ages_needed: AgesNeeded | None) -> set[Digest]:
        """The manifests whose build time a rule may need: those reached from a tag whose
        age is needed, and every untagged one not reached from a tag (a subject, a
        referrer: an orphan's grace needs it)."""
        wanted: set[Digest] = set()
        for repo in repos:
            needing = set(repo.tags) if ages_needed is None else ages_needed(repo.name, repo.tags)
            tagged = self._reached(repo.tags.values())
            roots = {d for t, d in repo.tags.items() if t in needing}
            wanted |= self._reached(roots) | (repo.revisions - tagged)
        return wanted

    def _reached(self, digests: Iterable[Digest]) -> set[Digest]:
        """``digests`` and every index child below them."""
        reached: set[Digest] = set()
        stack = [(d, 0) for d in digests]
        while stack:
            digest, depth = stack.pop()
            if digest in reached:
                continue
            reached.add(digest)
            manifest = self.manifests.get(digest)
            if manifest is not None and depth < MAX_DEPTH:
                stack.extend((c.digest, depth + 1) for c in manifest.children)
        return reached

    async def build_times(
        self, repos: list[_Repo], wanted: set[Digest]
    ) -> dict[Digest, datetime | None]:
        """Build time of each ``wanted`` manifest: annotation, else config ``created``, else
        its children's; a config is read once per digest, and only for those."""
        configs: dict[Digest, str] = {}
        for repo in repos:
            for digest in repo.revisions & wanted:
                manifest = self.manifests.get(digest)
                if manifest is None or ages.annotated_time(manifest.annotations) is not None:
                    continue
                config = manifest.config
                if (
                    config is not None
                    and config.media_type in (mediatypes.OCI_CONFIG, mediatypes.DOCKER_CONFIG)
                    and 0 <= config.size <= MAX_CONFIG_SIZE
                ):
                    configs.setdefault(config.digest, repo.name)
        created = dict(
            zip(
                configs,
                await asyncio.gather(*(self._config_time(r, d) for d, r in configs.items())),
                strict=True,
            )
        )
        times: dict[Digest, datetime | None] = {}

        def time_of(digest: Digest, depth: int = 0) -> datetime | None:
            if digest not in times:
                manifest = self.manifests.get(digest)
                when = None
                if manifest is not None:
                    when = ages.annotated_time(manifest.annotations)
                    if when is None and manifest.config is not None:
                        when = created.get(manifest.config.digest)
                    if when is None and manifest.is_index and depth < MAX_DEPTH:
                        when = ages.newest(time_of(c.digest, depth + 1) for c in manifest.children)
                times[digest] = when
            return times[digest]

        for digest in wanted:
            time_of(digest)
        return times

    async def existing_blobs(self, repos: list[_Repo]) -> dict[str, set[Digest]]:
        """The blobs each repository needs that it actually serves (HEAD each)."""
        jobs = [
            (repo.name, blob) for repo in repos for blob in sorted(_blobs(repo, self.manifests))
        ]
        found = await asyncio.gather(*(self.client.head_blob(r, b) for r, b in jobs))
        present: dict[str, set[Digest]] = {repo.name: set() for repo in repos}
        for (repository, blob), exists in zip(jobs, found, strict=True):
            if exists:
                present[repository].add(blob)
        return present

    async def _config_time(self, repository: str, digest: Digest) -> datetime | None:
        try:
            raw = await self.client.get_blob(repository, digest, max_size=MAX_CONFIG_SIZE)
        except RegistryAPIError as exc:
            self.problems.append(Problem(f"{repository}@{digest}", f"config not read: {exc}"))
            return None
        return ages.config_time(raw)


async def discover_api(
    client: RegistryClient,
    *,
    include: Callable[[str], bool] | None = None,
    repositories: Collection[str] | None = None,
    progress: Progress | None = None,
    check: Check | None = None,
    ages_needed: AgesNeeded | None = None,
    known: Mapping[Digest, Manifest] | None = None,
) -> Inventory:
    """Read the inventory of the registry behind ``client`` (pinged by the caller).

    ``include`` limits discovery to the repositories a policy applies to; the others are
    not read at all (over the API every repository costs requests). ``repositories``
    names them instead of the catalog. ``ages_needed`` says which tags' build times a
    rule needs (None: every tag's); the others get none (``Tag.pushed_at`` None).
    ``known`` are manifests already read in this run, never read again.

    ``check`` verifies: every tag and index child (and with :attr:`Check.BLOBS` every
    config and layer) is checked to exist in its repository (one HEAD each where the bytes
    are known), and no build time or artifact is read. The repositories' ``revisions``,
    ``layers`` and ``blob_sizes`` then hold only what exists, which is what
    :func:`regsweep.verify.verify_inventory` checks; blobs not checked are taken as the
    manifests declare them.
    """
    say = progress or (lambda _message: None)
    verifying = check is not None
    scanner = _Scanner(client, known or {}, verifying=verifying)
    names = []
    if repositories is None:
        say("listing repositories")
        listed = await client.list_repositories()
    else:
        listed = sorted(repositories)
    for name in listed:
        if not is_repository_name(name):
            scanner.problems.append(Problem(name[:255], "invalid repository name; skipped"))
        elif include is None or include(name):
            names.append(name)
    say(f"reading {len(names)} repositories")
    found = await asyncio.gather(*(scanner.repository(n) for n in names))
    repos = [r for r in found if r is not None]
    wanted = set() if verifying else scanner.aged(repos, ages_needed)
    if wanted:
        say("reading build times")
    times = await scanner.build_times(repos, wanted)
    sizes = _blob_sizes(scanner.manifests)
    present: dict[str, set[Digest]] | None = None
    if check is Check.BLOBS:
        say("checking blobs")
        present = await scanner.existing_blobs(repos)
        existing = set().union(*present.values()) if present else set()
        sizes = {d: n for d, n in sizes.items() if d in existing or d in scanner.manifests}
    found_repositories: dict[str, Repository] = {}
    unknown = unaged = 0
    for repo in repos:
        tags = {t: Tag(repo.name, t, d, times.get(d)) for t, d in sorted(repo.tags.items())}
        unaged += sum(1 for t in tags.values() if t.digest not in wanted)
        unknown += sum(1 for t in tags.values() if t.pushed_at is None and t.digest in wanted)
        found_repositories[repo.name] = Repository(
            name=repo.name,
            tags=tags,
            # A revision's "first linked" time is unknown over the API; its build time is
            # the closest, and unknown keeps it (the planner treats None as still young).
            revisions={d: times.get(d) for d in sorted(repo.revisions)},
            layers=tuple(
                sorted(
                    present[repo.name] if present is not None else _blobs(repo, scanner.manifests)
                )
            ),
        )
    for problem in scanner.problems:
        log.warning("skipped %s", problem)
    source = AGE_SOURCE
    if unknown:
        source += f"; {unknown} tag(s) have no usable build time (missing or 1970) and are kept"
    if unaged and not verifying:
        source += f"; {unaged} tag(s) kept by name or digest were not aged (no rule needs it)"
    return Inventory(
        repositories=found_repositories,
        manifests=dict(scanner.manifests),
        blob_sizes=SortedSizes.of(sizes),  # sorted once, not by the planner and du each
        problems=tuple(scanner.problems),
        age_source=source,
        aged_by=AgedBy.BUILD,
    )


def _blobs(repo: _Repo, manifests: dict[Digest, Manifest]) -> set[Digest]:
    """Configs and layers (not foreign layers) the repository's manifests need."""
    return {
        blob.digest
        for digest in repo.revisions
        if (manifest := manifests.get(digest)) is not None
        for blob in (*manifest.layers, *((manifest.config,) if manifest.config else ()))
        if not mediatypes.is_foreign_layer(blob.media_type)
    }


def _blob_sizes(manifests: dict[Digest, Manifest]) -> dict[Digest, int]:
    """Sizes as the manifests declare them: the API has no listing of the content store."""
    sizes: dict[Digest, int] = {}
    for manifest in manifests.values():
        sizes[manifest.digest] = manifest.size
        descriptors = (*manifest.layers, *((manifest.config,) if manifest.config else ()))
        for descriptor in descriptors:
            if descriptor.size >= 0:
                sizes[descriptor.digest] = descriptor.size
    return sizes
