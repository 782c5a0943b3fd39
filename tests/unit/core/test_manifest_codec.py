"""A manifest encoded for the disk reads back equal to the one put, annotations too."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from regsweep.core import mediatypes
from regsweep.core.manifest_codec import decode_manifest, encode_manifest
from regsweep.core.manifests import parse_manifest
from regsweep.core.model import NO_ANNOTATIONS, Descriptor, Digest, Manifest

digests = st.integers(0, 2**256 - 1).map(lambda i: Digest(f"sha256:{i:064x}"))
texts = st.text(max_size=12)
annotations = st.one_of(st.just(NO_ANNOTATIONS), st.dictionaries(texts, texts, max_size=3))
descriptors = st.builds(
    Descriptor,
    media_type=st.sampled_from(["", mediatypes.OCI_MANIFEST, "application/x.odd"]),
    digest=digests,
    size=st.integers(-1, 2**53),
    platform=st.one_of(st.none(), st.just("linux/arm64/v8")),
    annotations=annotations,
)
manifests = st.builds(
    Manifest,
    digest=digests,
    media_type=st.sampled_from([mediatypes.OCI_MANIFEST, mediatypes.OCI_INDEX, "x/y"]),
    size=st.integers(0, 2**31),
    config=st.one_of(st.none(), descriptors),
    layers=st.lists(descriptors, max_size=4).map(tuple),
    children=st.lists(descriptors, max_size=3).map(tuple),
    subject=st.one_of(st.none(), digests),
    artifact_type=st.one_of(st.none(), texts),
    annotations=annotations,
)


def _notes(manifest: Manifest) -> list[object]:
    """The annotations, which equality leaves out."""
    parts = [manifest.config] if manifest.config else []
    every = [*parts, *manifest.layers, *manifest.children]
    return [dict(manifest.annotations), *(dict(d.annotations) for d in every)]


@given(manifests)
def test_a_manifest_reads_back_equal(manifest: Manifest) -> None:
    back = decode_manifest(encode_manifest(manifest))
    assert back == manifest
    assert _notes(back) == _notes(manifest)


def test_a_parsed_image_reads_back_equal_and_empty_annotations_stay_shared() -> None:
    raw = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'
        + b"a"
        * 64
        + b'","size":7},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
        b'"digest":"sha256:' + b"b" * 64 + b'","size":9,"annotations":{"k":"v"}}]}'
    )
    manifest = parse_manifest(Digest("sha256:" + "c" * 64), raw)
    back = decode_manifest(encode_manifest(manifest))
    assert back == manifest and _notes(back) == _notes(manifest)
    assert back.annotations is NO_ANNOTATIONS
    assert back.config is not None and back.config.annotations is NO_ANNOTATIONS
