"""Reachability between manifests and blobs (pure, no I/O).

Three kinds of edge keep something alive:

- an index keeps its children: deleting an untagged child of a kept multi-arch image breaks
  every pull of that platform (the registry's ``--delete-untagged`` bug, distribution #3178);
- an image manifest keeps its config and layers;
- a subject keeps its artifacts (signatures, SBOMs, attestations), however they are tied
  to it (OCI ``subject``, cosign tags, the referrers tag schema, buildx attestations: see
  :mod:`regsweep.artifacts`): they describe the image and are worthless, or misleading,
  without it.

Deletion runs the edges the other way: an index before its children, an artifact before
its subject.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from regsweep.model import Digest, Manifest


def reachable(
    roots: Iterable[Digest],
    manifests: Mapping[Digest, Manifest],
    artifacts: Mapping[Digest, list[Digest]],
) -> dict[Digest, Digest | None]:
    """Every manifest digest reachable from ``roots`` through children and artifacts.

    ``artifacts`` maps a subject to its artifacts (:func:`regsweep.artifacts.by_subject`).
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


def deleted_after(
    digests: Iterable[Digest],
    manifests: Mapping[Digest, Manifest],
    subjects: Mapping[Digest, list[Digest]],
) -> dict[Digest, list[Digest]]:
    """For each of ``digests``, those of the set to delete after it: children and subjects.

    ``subjects`` maps an artifact to the subjects it describes.
    """
    wanted = set(digests)
    after: dict[Digest, list[Digest]] = {}
    for digest in wanted:
        manifest = manifests.get(digest)
        edges = [c.digest for c in manifest.children] if manifest is not None else []
        edges.extend(subjects.get(digest, ()))
        after[digest] = sorted({d for d in edges if d in wanted and d != digest})
    return after


def parents_first(after: Mapping[Digest, list[Digest]]) -> list[Digest]:
    """Order the digests of ``after`` (see :func:`deleted_after`) parents and artifacts first.

    Deleting in this order never leaves a reachable index without its children or an
    artifact without its subject, even when a run is interrupted half way: what remains is
    always a consistent registry (an index is removed before its platforms, a signature
    before its image). Ties are broken by digest for a stable plan.
    """
    order: list[Digest] = []
    visited: set[Digest] = set()
    for start in sorted(after):
        _post_order(start, after, visited, order)
    order.reverse()
    return order


def _post_order(
    start: Digest, edges: Mapping[Digest, list[Digest]], visited: set[Digest], out: list[Digest]
) -> None:
    """Iterative depth-first post-order (manifest graphs can be deep; no recursion limit)."""
    if start in visited:
        return
    visited.add(start)
    stack: list[tuple[Digest, int]] = [(start, 0)]
    while stack:
        node, i = stack[-1]
        children = edges[node]
        if i < len(children):
            stack[-1] = (node, i + 1)
            child = children[i]
            if child not in visited:
                visited.add(child)
                stack.append((child, 0))
        else:
            stack.pop()
            out.append(node)


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
