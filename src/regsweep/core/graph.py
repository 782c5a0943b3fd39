"""Reachability between manifests and blobs (pure, no I/O).

Three kinds of edge keep something alive:

- an index keeps its children: deleting an untagged child of a kept multi-arch image breaks
  every pull of that platform (the registry's ``--delete-untagged`` bug, distribution #3178);
- an image manifest keeps its config and layers;
- a subject keeps its artifacts (signatures, SBOMs, attestations), however they are tied
  to it (OCI ``subject``, cosign tags, the referrers tag schema, buildx attestations: see
  :mod:`regsweep.core.artifacts`): they describe the image and are worthless, or misleading,
  without it.

Deletion runs the edges the other way: an index before its children, an artifact before
its subject.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from regsweep.core.model import Digest, Manifest


def reachable(
    roots: Iterable[Digest],
    manifests: Mapping[Digest, Manifest],
    artifacts: Mapping[Digest, list[Digest]],
) -> dict[Digest, Digest | None]:
    """Every manifest digest reachable from ``roots`` through children and artifacts.

    ``artifacts`` maps a subject to its artifacts (:func:`regsweep.core.artifacts.by_subject`).
    A signature of an attestation of an image is reached in turn: the walk runs to the
    fixpoint.

    Maps each to the digest it was first reached from (None for a root), so a kept
    manifest can be explained by its path back to a root. Digests without a parsed
    manifest (missing or unreadable) are included but not expanded: keeping something
    unknown is always the safe side.
    """
    seen: dict[Digest, Digest | None] = {}
    stack: list[tuple[Digest, Digest | None]] = [(root, None) for root in roots]
    while stack:
        digest, via = stack.pop()
        if digest in seen:
            continue
        seen[digest] = via
        manifest = manifests.get(digest)
        if manifest is not None:
            stack.extend((child.digest, digest) for child in manifest.children)
        stack.extend((artifact, digest) for artifact in artifacts.get(digest, ()))
    return seen


def deletion_order(
    digests: Iterable[Digest],
    manifests: Mapping[Digest, Manifest],
    subjects: Mapping[Digest, list[Digest]],
) -> list[tuple[Digest, int]]:
    """``digests`` in the order to delete them, each with its wave: parents and artifacts first.

    An index goes before its children and an artifact before its subjects (``subjects``
    maps an artifact to the subjects it describes), so a run interrupted half way never
    leaves a reachable index without its platforms or an artifact without its image. A
    delete of wave k starts once every delete of the waves before it is done, so each wave
    runs concurrently; the list is sorted by wave, then by digest for a stable plan.

    Tags are not content-addressed, so artifact tags can close a cycle (a signature tag on
    a platform of the very index it signs). No order satisfies a cycle; it is broken at an
    artifact's tie, never at an index's child: a platform deleted before its index breaks
    every pull of the index, an artifact outliving its subject for a moment breaks nothing.
    Children alone never form a cycle (a manifest cannot contain its own digest).
    """
    wanted = set(digests)
    children: dict[Digest, set[Digest]] = {}
    ties: dict[Digest, set[Digest]] = {}
    for digest in wanted:
        manifest = manifests.get(digest)
        listed = {c.digest for c in manifest.children} if manifest is not None else set()
        children[digest] = (listed & wanted) - {digest}
        ties[digest] = (set(subjects.get(digest, ())) & wanted) - {digest} - children[digest]
    held = dict.fromkeys(wanted, 0)  # how many indexes still to delete list it
    tied = dict.fromkeys(wanted, 0)  # how many artifacts still to delete describe it
    for digest in wanted:
        for child in children[digest]:
            held[child] += 1
        for subject in ties[digest]:
            tied[subject] += 1
    wave = dict.fromkeys(wanted, 1)
    ready = [d for d in wanted if not held[d] and not tied[d]]
    heapq.heapify(ready)
    remaining = set(wanted)
    order: list[Digest] = []
    while remaining:
        if not ready:  # every one left waits on another: a cycle through artifact ties
            heapq.heappush(ready, _cycle_breaker(remaining, held, children, ties))
        digest = heapq.heappop(ready)
        if digest not in remaining:
            continue
        remaining.discard(digest)
        order.append(digest)
        edges = [(child, held) for child in children[digest]]
        edges += [(subject, tied) for subject in ties[digest]]
        for target, counts in edges:
            if target in remaining:
                counts[target] -= 1
                wave[target] = max(wave[target], wave[digest] + 1)
                if not held[target] and not tied[target]:
                    heapq.heappush(ready, target)
    return sorted(((d, wave[d]) for d in order), key=lambda item: (item[1], item[0]))


def _cycle_breaker(
    remaining: set[Digest],
    held: Mapping[Digest, int],
    children: Mapping[Digest, set[Digest]],
    ties: Mapping[Digest, set[Digest]],
) -> Digest:
    """The manifest to free when every one left waits on another.

    It is listed by no index still to delete, and every artifact it still waits on is on a
    cycle through it: only the cycle's own ties are broken, so a subject downstream of the
    cycle still goes after its artifacts (freeing the smallest free digest could pick that
    subject). One exists: in a cycle nothing outside waits on, children alone close no
    cycle, so some member is listed by no index.
    """
    describers: dict[Digest, set[Digest]] = {d: set() for d in remaining}
    for artifact in remaining:
        for subject in ties[artifact] & remaining:
            describers[subject].add(artifact)
    for candidate in sorted(d for d in remaining if not held[d]):
        reached: set[Digest] = set()
        stack = [candidate]
        while stack:
            node = stack.pop()
            for successor in (children[node] | ties[node]) & remaining:
                if successor not in reached:
                    reached.add(successor)
                    stack.append(successor)
        if describers[candidate] <= reached:
            return candidate
    return min(remaining)  # children in a cycle: a corrupt tree, any order will do


def marked_blobs(revisions: Iterable[Digest], manifests: Mapping[Digest, Manifest]) -> set[Digest]:
    """The blobs the registry's garbage collector marks for these manifest revisions.

    Each revision marks its own manifest blob and, one level deep, its config and layers
    (image) or its children (index), as ``registry garbage-collect`` does; children are
    revisions of their own and mark their layers themselves.
    """
    marked: set[Digest] = set()
    for digest in revisions:
        marked.add(digest)
        manifest = manifests.get(digest)
        if manifest is not None:
            marked.update(manifest.blob_references())
    return marked
