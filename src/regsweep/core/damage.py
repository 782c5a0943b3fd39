"""The kinds of damage found in a registry's storage, each decided by what it can hide.

Years of operation leave registries with files that cannot be read whole: a zero-byte link
written on a full disk, a manifest blob cut short, a repository moved elsewhere and linked
back, a folder renamed by hand. Refusing the whole registry over one such file lets the
disk fill up; ignoring it can delete what the registry still serves. So each kind of
damage is judged by the one question that matters for safety: could it hide a tag or a
reference that keeps a manifest (:func:`hides_manifests`)? And, separately, does the
registry's own garbage collector stop on it (:func:`breaks_registry_gc`)?

Pure: the kinds and the decisions, no I/O. Discovery classifies what it finds
(:mod:`regsweep.sources.storage.discovery`); the planner skips the repositories that hold
damage hiding manifests; the pipeline refuses a collection the registry's GC cannot finish.
"""

from __future__ import annotations

from enum import StrEnum


class Defect(StrEnum):
    """One kind of damage; the value is how it is named in plans, journals and JSON."""

    #: ``tags/<tag>/current/link`` holds no digest (empty, truncated, garbage)
    TAG_LINK = "tag-link"
    #: a tag folder, its ``current`` folder or link, or the ``tags`` folder is a symlink
    TAG_SYMLINK = "tag-symlink"
    #: a revision link holds no digest: the registry answers 500 for it
    REVISION_LINK = "revision-link"
    #: a revision link names another digest than its folder
    REVISION_LINK_FOREIGN = "revision-link-foreign"
    #: a revision folder or link, the revisions folder or ``_manifests`` is a symlink
    REVISION_SYMLINK = "revision-symlink"
    #: the manifest blob of a revision does not parse (truncated, not JSON)
    MANIFEST_UNPARSEABLE = "manifest-unparseable"
    #: the manifest blob of a revision is missing (or not a plain file)
    MANIFEST_MISSING = "manifest-missing"
    #: the repository folder itself (or a folder of names above it) is a symlink
    REPOSITORY_SYMLINK = "repository-symlink"
    #: a folder holding repository metadata whose name is not a repository name
    INVALID_NAME = "invalid-name"
    #: a ``_layers`` link holds no digest
    LAYER_LINK = "layer-link"
    #: a symlink among the ``_layers`` links or the uploads
    LAYER_SYMLINK = "layer-symlink"
    #: a tag that points to a digest which is not a revision of its repository
    DANGLING_TAG = "dangling-tag"
    #: a file where the layout has none (a stray file, a tag or revision folder whose
    #: name cannot be one, a symlinked index entry of a tag's history)
    STRAY = "stray"


def hides_manifests(defect: Defect) -> bool:
    """Whether this damage may hide a tag, a manifest or a reference that keeps a
    manifest alive: then nothing in its repository may be deleted, and the repository is
    skipped (every other one is cleaned).

    - A **tag link** that holds no digest, or a **symlinked tag**, hides the tag's target:
      the registry follows symlinks, so the tag may still serve a manifest that would
      look untagged here and be deleted.
    - A **revision link** that holds no digest or names another digest, a **symlinked
      revision** (or revisions folder), a manifest that **does not parse** or whose blob
      is **missing**: the manifest's children and referrers are unknown, so any untagged
      manifest of the repository may be one of them.
    - A **symlinked repository** (or a folder of names above it): everything in it is
      unknown, and the registry serves it all.
    - A folder with an **invalid name**: not a repository regsweep can plan (nor one the
      API serves), but what it holds is unknown; listing it as skipped says so.

    These hide nothing, and are reported without skipping anything:

    - a **layer link** that holds no digest, or a **symlink among the layer links or
      uploads**: ``_layers`` only lets the repository serve a blob (a config or a layer);
      no tag or manifest is found through it, so no manifest can look unreferenced
      because of it. (The native collector removes such a link once its blob is gone.)
    - a **dangling tag**: its target is not a manifest of the repository, so it keeps
      nothing; the registry answers 404 for it and ``verify`` reports it.
    - a **stray** file, or a tag or revision folder whose name cannot be a tag or a
      digest: the registry looks tags and manifests up by name, so it never serves
      anything from there.
    """
    return defect in _HIDES_MANIFESTS


def breaks_registry_gc(defect: Defect) -> bool:
    """Whether ``registry garbage-collect`` (2.8) stops on this damage, wherever it is.

    It reads every revision link of every repository and parses every manifest they name,
    so a revision link holding no digest ("invalid checksum digest format"), a manifest
    that does not parse ("unexpected end of JSON input") or a repository folder whose
    name is not a name ("failed to parse repo name") stops it before it sweeps anything,
    however the run was scoped. Measured on distribution 2.8.2: a missing manifest blob,
    a revision link naming another digest, tag links, layer links and symlinks (which it
    follows) do not stop it.
    """
    return defect in _BREAKS_REGISTRY_GC


_HIDES_MANIFESTS = frozenset(
    {
        Defect.TAG_LINK,
        Defect.TAG_SYMLINK,
        Defect.REVISION_LINK,
        Defect.REVISION_LINK_FOREIGN,
        Defect.REVISION_SYMLINK,
        Defect.MANIFEST_UNPARSEABLE,
        Defect.MANIFEST_MISSING,
        Defect.REPOSITORY_SYMLINK,
        Defect.INVALID_NAME,
    }
)
_BREAKS_REGISTRY_GC = frozenset(
    {Defect.REVISION_LINK, Defect.MANIFEST_UNPARSEABLE, Defect.INVALID_NAME}
)
