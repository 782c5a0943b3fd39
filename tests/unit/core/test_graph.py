"""Reachability, deletion order and GC marks on hand-drawn graphs, expected values by hand.

Digests are ``sha256:`` and one hex character repeated, so that the tie-break order of
:func:`deletion_order` (by digest within a wave) is visible: ``digest("1") < digest("9")``.
"""

from __future__ import annotations

from regsweep.core import mediatypes
from regsweep.core.graph import deletion_order, marked_blobs, reachable
from regsweep.core.model import Descriptor, Digest, Manifest


def digest(char: str) -> Digest:
    return Digest("sha256:" + char * 64)


def image(digest: Digest, config: Digest | None = None, *layers: Digest) -> Manifest:
    return Manifest(
        digest,
        mediatypes.OCI_MANIFEST,
        500,
        config=Descriptor(mediatypes.OCI_CONFIG, config, 10) if config else None,
        layers=tuple(
            Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", d, 100) for d in layers
        ),
    )


def index(digest: Digest, *children: Digest) -> Manifest:
    return Manifest(
        digest,
        mediatypes.OCI_INDEX,
        300,
        children=tuple(Descriptor(mediatypes.OCI_MANIFEST, c, 500) for c in children),
    )


def by_digest(*manifests: Manifest) -> dict[Digest, Manifest]:
    return {m.digest: m for m in manifests}


# --- reachable -------------------------------------------------------------------------------


def test_reachable_follows_children_and_artifacts_to_the_fixpoint_and_names_the_way_in() -> None:
    """An index keeps its platforms, a platform its signature, the signature its own
    signature; an unrelated manifest is not reached."""
    multi, amd, arm = digest("1"), digest("2"), digest("3")
    signature, signature_of_signature, unrelated = digest("4"), digest("5"), digest("6")
    manifests = by_digest(
        index(multi, amd, arm), image(amd), image(arm), image(signature), image(unrelated)
    )
    artifacts = {amd: [signature], signature: [signature_of_signature]}

    assert reachable([multi], manifests, artifacts) == {
        multi: None,
        amd: multi,
        arm: multi,
        signature: amd,
        signature_of_signature: signature,
    }


def test_a_missing_manifest_is_reached_but_not_expanded_while_its_artifacts_still_are() -> None:
    """Nothing is known of what a missing manifest lists, so nothing below it is reached
    through it; its artifacts are known from their own side and stay reachable."""
    multi, missing, signature = digest("1"), digest("2"), digest("3")
    manifests = by_digest(index(multi, missing), image(signature))

    assert reachable([multi], manifests, {missing: [signature]}) == {
        multi: None,
        missing: multi,
        signature: missing,
    }


def test_a_cycle_of_artifacts_ends() -> None:
    first, second = digest("a"), digest("b")
    artifacts = {first: [second], second: [first]}  # artifact tags can close a cycle

    assert reachable([first], by_digest(image(first), image(second)), artifacts) == {
        first: None,
        second: first,
    }


def test_a_manifest_reached_two_ways_is_listed_once_from_one_of_them() -> None:
    left, right, shared = digest("1"), digest("2"), digest("3")
    manifests = by_digest(index(left, shared), index(right, shared), image(shared))

    found = reachable([left, right], manifests, {})

    assert found.keys() == {left, right, shared}
    assert found[shared] in (left, right)


def test_nothing_is_reachable_from_no_roots() -> None:
    assert reachable([], by_digest(image(digest("1"))), {digest("1"): [digest("2")]}) == {}


# --- deletion_order --------------------------------------------------------------------------


def test_an_index_goes_one_wave_before_its_platforms_which_go_together_in_digest_order() -> None:
    multi, amd, arm = digest("9"), digest("1"), digest("2")
    manifests = by_digest(index(multi, amd, arm), image(amd), image(arm))

    assert deletion_order([arm, multi, amd], manifests, {}) == [(multi, 1), (amd, 2), (arm, 2)]


def test_only_what_is_deleted_orders_the_waves() -> None:
    """A kept platform does not hold its index back, and an unrelated manifest goes in the
    first wave with the index."""
    multi, kept_platform, unrelated = digest("5"), digest("1"), digest("3")
    manifests = by_digest(index(multi, kept_platform), image(kept_platform), image(unrelated))

    assert deletion_order([multi, unrelated], manifests, {}) == [(unrelated, 1), (multi, 1)]


def test_artifacts_go_before_what_they_describe_a_chain_one_wave_each() -> None:
    image_, attestation, signature = digest("1"), digest("2"), digest("3")
    subjects = {attestation: [image_], signature: [attestation]}
    manifests = by_digest(image(image_), image(attestation), image(signature))

    assert deletion_order([image_, attestation, signature], manifests, subjects) == [
        (signature, 1),
        (attestation, 2),
        (image_, 3),
    ]


def test_a_manifest_goes_after_the_longest_chain_that_leads_to_it() -> None:
    """``platform`` is listed by ``other`` (wave 1) and by ``multi``, which waits for its
    signature: wave 3, not 2."""
    signature, multi, other, platform = digest("1"), digest("2"), digest("3"), digest("4")
    manifests = by_digest(
        image(signature), index(multi, platform), index(other, platform), image(platform)
    )

    order = deletion_order([platform, other, multi, signature], manifests, {signature: [multi]})

    assert order == [(signature, 1), (other, 1), (multi, 2), (platform, 3)]


def test_a_cycle_through_an_artifact_tie_is_broken_at_the_tie_never_at_a_child() -> None:
    """The platform is tied to its own index as an artifact (a signature tag on a platform
    of the index it signs). Its digest is the smaller one, yet the index goes first: a
    platform deleted before its index breaks every pull of the index."""
    platform, multi = digest("1"), digest("9")
    manifests = by_digest(index(multi, platform), image(platform))

    assert deletion_order([platform, multi], manifests, {platform: [multi]}) == [
        (multi, 1),
        (platform, 2),
    ]


def test_breaking_a_cycle_of_ties_keeps_a_subject_downstream_of_it_after_its_artifact() -> None:
    """``x`` and ``y`` describe each other; ``y`` also describes ``z``, the smallest digest.
    Freeing the smallest digest would delete ``z`` before ``y``; the cycle is broken at one
    of its own members instead."""
    z, x, y = digest("1"), digest("5"), digest("6")
    manifests = by_digest(image(x), image(y), image(z))

    assert deletion_order([x, y, z], manifests, {x: [y], y: [x, z]}) == [(x, 1), (y, 2), (z, 3)]


def test_indexes_listing_each_other_are_a_corrupt_tree_still_deleted_once_each() -> None:
    first, second = digest("a"), digest("b")
    manifests = by_digest(index(first, second), index(second, first))

    assert deletion_order([second, first], manifests, {}) == [(first, 1), (second, 2)]


def test_a_manifest_listing_itself_or_describing_itself_waits_for_nothing() -> None:
    loop = digest("7")
    manifests = by_digest(index(loop, loop))

    assert deletion_order([loop], manifests, {loop: [loop]}) == [(loop, 1)]


def test_an_unreadable_manifest_lists_nothing_and_goes_in_the_first_wave() -> None:
    assert deletion_order([digest("3"), digest("2")], {}, {}) == [
        (digest("2"), 1),
        (digest("3"), 1),
    ]


# --- marked_blobs ----------------------------------------------------------------------------


def test_each_revision_marks_itself_and_one_level_down_as_garbage_collect_does() -> None:
    """The index marks its children's digests, not their layers: the children are revisions
    of their own (or not, and then their layers are not marked). A missing manifest marks
    only itself."""
    multi, amd, arm, missing = digest("1"), digest("2"), digest("3"), digest("4")
    config, layer, arm_layer = digest("a"), digest("b"), digest("c")
    manifests = by_digest(
        index(multi, amd, arm), image(amd, config, layer), image(arm, None, arm_layer)
    )

    assert marked_blobs([multi, amd, missing], manifests) == {
        multi,
        amd,
        arm,
        missing,
        config,
        layer,
    }


def test_no_revisions_mark_nothing() -> None:
    assert marked_blobs([], by_digest(image(digest("1"), digest("2")))) == set()
