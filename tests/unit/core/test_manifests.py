"""The manifest parser on every manifest shape a registry stores, and on what it must refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regsweep.core import mediatypes
from regsweep.core.manifests import ManifestError, parse_manifest
from regsweep.core.model import Digest, forget_interned_digests, intern_digest, parse_digest
from tests.unit.strategies import HELM_CHART, HELM_CONFIG, digest_of

CONFIG = digest_of("config")
LAYER_A = digest_of("layer-a")
LAYER_B = digest_of("layer-b")
AMD64 = digest_of("amd64")
ARM64 = digest_of("arm64")
SUBJECT = digest_of("subject")
SELF = digest_of("the manifest itself")


def parse(doc: dict[str, Any]) -> Any:
    return parse_manifest(SELF, json.dumps(doc, indent=3).encode())


def descriptor(media_type: str, digest: Digest, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def test_docker_schema2_image_references_its_config_and_layers() -> None:
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.DOCKER_MANIFEST,
            "config": descriptor(mediatypes.DOCKER_CONFIG, CONFIG, 1469),
            "layers": [
                descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_A, 2811),
                descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_B, 99),
            ],
        }
    ).encode()
    manifest = parse_manifest(SELF, raw)
    assert manifest.digest == SELF
    assert manifest.media_type == mediatypes.DOCKER_MANIFEST
    assert manifest.size == len(raw)
    assert manifest.config is not None
    assert (manifest.config.digest, manifest.config.size) == (CONFIG, 1469)
    assert [layer.digest for layer in manifest.layers] == [LAYER_A, LAYER_B]
    assert manifest.children == ()
    assert not manifest.is_index
    assert set(manifest.blob_references()) == {CONFIG, LAYER_A, LAYER_B}


def test_oci_manifest_without_media_type_is_an_oci_manifest() -> None:
    """mediaType is optional in OCI: the shape decides."""
    manifest = parse(
        {
            "schemaVersion": 2,
            "config": descriptor(mediatypes.OCI_CONFIG, CONFIG),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", LAYER_A)],
        }
    )
    assert manifest.media_type == mediatypes.OCI_MANIFEST
    assert set(manifest.blob_references()) == {CONFIG, LAYER_A}


def test_oci_index_lists_its_platform_children() -> None:
    manifest = parse(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
            "manifests": [
                descriptor(
                    mediatypes.OCI_MANIFEST,
                    AMD64,
                    platform={"os": "linux", "architecture": "amd64"},
                ),
                descriptor(
                    mediatypes.OCI_MANIFEST,
                    ARM64,
                    platform={"os": "linux", "architecture": "arm64", "variant": "v8"},
                ),
            ],
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        }
    )
    assert manifest.is_index
    assert [(c.digest, c.platform) for c in manifest.children] == [
        (AMD64, "linux/amd64"),
        (ARM64, "linux/arm64/v8"),
    ]
    assert manifest.config is None
    assert manifest.layers == ()
    assert set(manifest.blob_references()) == {AMD64, ARM64}
    assert manifest.annotations == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}


def test_oci_index_without_media_type_is_recognised_by_its_manifests_list() -> None:
    manifest = parse(
        {"schemaVersion": 2, "manifests": [descriptor(mediatypes.OCI_MANIFEST, AMD64)]}
    )
    assert manifest.media_type == mediatypes.OCI_INDEX
    assert manifest.is_index


def test_docker_manifest_list_is_an_index() -> None:
    manifest = parse(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.DOCKER_LIST,
            "manifests": [
                descriptor(
                    mediatypes.DOCKER_MANIFEST,
                    AMD64,
                    platform={"os": "linux", "architecture": "amd64"},
                ),
                descriptor(
                    mediatypes.DOCKER_MANIFEST,
                    ARM64,
                    platform={"os": "windows", "architecture": "amd64", "os.version": "10.0"},
                ),
            ],
        }
    )
    assert manifest.is_index
    assert [c.platform for c in manifest.children] == ["linux/amd64", "windows/amd64"]


SCHEMA1_SIGNED = {
    "schemaVersion": 1,
    "name": "team/app",
    "tag": "old",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": LAYER_A}, {"blobSum": LAYER_B}, {"blobSum": LAYER_A}],
    "history": [{"v1Compatibility": "{}"}] * 3,
    "signatures": [
        {
            "header": {"jwk": {"crv": "P-256", "kty": "EC"}, "alg": "ES256"},
            "signature": "c2ln",
            "protected": "cHJvdA",
        }
    ],
}


def test_schema1_signed_references_its_fs_layers() -> None:
    manifest = parse(SCHEMA1_SIGNED)
    assert manifest.media_type == mediatypes.DOCKER_SCHEMA1_SIGNED
    assert manifest.config is None
    assert set(manifest.blob_references()) == {LAYER_A, LAYER_B}


def test_schema1_unsigned_is_recognised_without_media_type() -> None:
    unsigned = {k: v for k, v in SCHEMA1_SIGNED.items() if k != "signatures"}
    assert parse(unsigned).media_type == mediatypes.DOCKER_SCHEMA1


def test_schema1_with_declared_media_type_keeps_it() -> None:
    manifest = parse({**SCHEMA1_SIGNED, "mediaType": mediatypes.DOCKER_SCHEMA1_SIGNED})
    assert manifest.media_type == mediatypes.DOCKER_SCHEMA1_SIGNED
    assert set(manifest.blob_references()) == {LAYER_A, LAYER_B}


def test_helm_chart_with_unknown_config_type_is_a_manifest_with_blobs() -> None:
    """A Helm chart is planned like an image: its chart layer must not look unreferenced."""
    manifest = parse(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": descriptor(HELM_CONFIG, CONFIG, 117),
            "layers": [descriptor(HELM_CHART, LAYER_A, 3650)],
            "annotations": {"org.opencontainers.image.title": "mychart"},
        }
    )
    assert manifest.media_type == mediatypes.OCI_MANIFEST
    assert manifest.config is not None and manifest.config.media_type == HELM_CONFIG
    assert set(manifest.blob_references()) == {CONFIG, LAYER_A}


def test_artifact_with_subject_and_artifact_type_is_a_referrer() -> None:
    manifest = parse(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
            "config": descriptor(mediatypes.OCI_EMPTY, CONFIG, 2),
            "layers": [descriptor("application/vnd.dev.cosign.simplesigning.v1+json", LAYER_A)],
            "subject": descriptor(mediatypes.OCI_MANIFEST, SUBJECT, 1234),
        }
    )
    assert manifest.subject == SUBJECT
    assert manifest.artifact_type == "application/vnd.dev.cosign.artifact.sig.v1+json"
    # the subject is a link to another manifest, not a blob this one keeps
    assert SUBJECT not in manifest.blob_references()


def test_unknown_manifest_media_type_is_kept_as_declared() -> None:
    manifest = parse(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.example.thing.v1+json",
            "layers": [descriptor("application/octet-stream", LAYER_A)],
        }
    )
    assert manifest.media_type == "application/vnd.example.thing.v1+json"
    assert manifest.blob_references() == (LAYER_A,)


def test_descriptor_without_size_or_media_type_is_accepted() -> None:
    manifest = parse({"schemaVersion": 2, "layers": [{"digest": LAYER_A}]})
    assert (manifest.layers[0].size, manifest.layers[0].media_type) == (-1, "")


def test_non_string_annotation_values_become_text() -> None:
    manifest = parse({"schemaVersion": 2, "annotations": {"n": 1, "ok": "yes"}})
    assert manifest.annotations == {"n": "1", "ok": "yes"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"layers": {"digest": "x"}}', "layers is not a list"),
        (b'{"manifests": "nope"}', "manifests is not a list"),
        (b'{"config": "sha256:abc"}', "descriptor is not an object"),
        (b'{"layers": [{"size": 1}]}', "digest is missing"),
        (b'{"layers": [{"digest": "sha256:abc", "size": 1}]}', "not a sha256 digest"),
        (b'{"layers": [{"digest": "sha256:../../../etc/passwd"}]}', "not a sha256 digest"),
        (b'{"subject": {"digest": "sha512:' + b"a" * 128 + b'"}}', "not a sha256 digest"),
        (b'{"layers": [{"digest": "' + LAYER_A.upper().encode() + b'"}]}', "not a sha256"),
        (b'{"layers": [{"digest": "' + LAYER_A.encode() + b'", "size": "10"}]}', "size"),
        (b'{"layers": [{"digest": "' + LAYER_A.encode() + b'", "size": true}]}', "size"),
        (b'{"schemaVersion": 1, "fsLayers": [{"blobSum": 7}]}', "blobSum"),
        (b'{"schemaVersion": 1, "fsLayers": "x"}', "fsLayers is not a list"),
    ],
)
def test_refused_manifests_name_the_problem(raw: bytes, message: str) -> None:
    """A manifest with one bad reference is refused whole: dropping the reference silently
    would make a blob an image needs look unreferenced."""
    with pytest.raises(ManifestError, match=message):
        parse_manifest(SELF, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"schemaVersion": 1, "fsLayers": [7]}',
        b'{"schemaVersion": 1, "fsLayers": ["' + LAYER_A.encode() + b'"]}',
        b'{"schemaVersion": 1, "fsLayers": [null]}',
    ],
)
def test_schema1_layer_that_is_not_an_object_is_refused(raw: bytes) -> None:
    """Regression: these raised AttributeError, which stopped the whole discovery."""
    with pytest.raises(ManifestError):
        parse_manifest(SELF, raw)


@pytest.mark.parametrize("depth", [995, 5000, 100_000])
def test_deeply_nested_json_is_refused_not_a_crash(depth: int) -> None:
    """Regression: RecursionError escaped json.loads and stopped the whole discovery.

    The registry's Go decoder accepts nesting up to 10,000 in fields it does not know,
    deeper than Python's recursion limit.
    """
    nested = b'{"schemaVersion": 2, "x": ' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(ManifestError):
        parse_manifest(SELF, nested)


# --- fuzz: whatever the bytes, the parser answers a Manifest or a ManifestError -------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
VALID_DIGESTS = st.binary(max_size=4).map(lambda b: digest_of(b.hex()))
DIGEST_LIKE = st.one_of(
    VALID_DIGESTS,
    VALID_DIGESTS.map(str.upper),
    VALID_DIGESTS.map(lambda d: d + "\n"),
    st.text(max_size=12).map(lambda t: "sha256:" + t),
    st.sampled_from(["sha256:../../../../etc/passwd", "sha512:" + "a" * 128, "", "sha256:"]),
    JSON_VALUES,
)
DESCRIPTOR_LIKE = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries(
        {"digest": DIGEST_LIKE},
        optional={
            "size": st.integers() | JSON_VALUES,
            "mediaType": st.sampled_from([mediatypes.OCI_MANIFEST, ""]) | JSON_VALUES,
            "platform": st.fixed_dictionaries({}, optional={"os": JSON_VALUES}) | JSON_VALUES,
            "annotations": JSON_VALUES,
        },
    ),
)
MANIFEST_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.sampled_from([1, 2, "2", None]),
        "mediaType": st.sampled_from(
            [mediatypes.OCI_INDEX, mediatypes.DOCKER_SCHEMA1_SIGNED, mediatypes.DOCKER_MANIFEST]
        )
        | JSON_VALUES,
        "config": DESCRIPTOR_LIKE,
        "layers": st.lists(DESCRIPTOR_LIKE, max_size=3) | JSON_VALUES,
        "manifests": st.lists(DESCRIPTOR_LIKE, max_size=3) | JSON_VALUES,
        "subject": DESCRIPTOR_LIKE,
        "fsLayers": st.lists(
            st.fixed_dictionaries({"blobSum": DIGEST_LIKE}) | JSON_VALUES, max_size=3
        )
        | JSON_VALUES,
        "signatures": JSON_VALUES,
        "artifactType": JSON_VALUES,
        "annotations": JSON_VALUES,
    },
)


def check_parse(raw: bytes) -> None:
    try:
        manifest = parse_manifest(SELF, raw)
    except ManifestError as exc:
        assert str(exc)
        return
    assert (manifest.digest, manifest.size) == (SELF, len(raw))
    assert isinstance(manifest.media_type, str) and manifest.media_type
    referenced = list(manifest.blob_references())
    if manifest.subject is not None:
        referenced.append(manifest.subject)
    for digest in referenced:
        assert parse_digest(digest) == digest  # never a path-like or foreign digest
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.annotations.items())


@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_manifest_error(raw: bytes) -> None:
    check_parse(raw)


@given(JSON_VALUES)
def test_arbitrary_json_parses_or_raises_manifest_error(doc: object) -> None:
    check_parse(json.dumps(doc).encode())


@given(MANIFEST_LIKE)
def test_manifest_shaped_json_parses_or_raises_manifest_error(doc: dict[str, Any]) -> None:
    check_parse(json.dumps(doc).encode())


@given(
    st.lists(VALID_DIGESTS, max_size=4),
    st.lists(VALID_DIGESTS, max_size=4),
    st.one_of(st.none(), VALID_DIGESTS),
    st.one_of(st.none(), VALID_DIGESTS),
)
def test_every_valid_reference_is_kept(
    layers: list[Digest], children: list[Digest], config: Digest | None, subject: Digest | None
) -> None:
    """Nothing a manifest references is ever dropped (a dropped layer would look freeable)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "layers": [descriptor("l", d) for d in layers],
        "manifests": [descriptor(mediatypes.OCI_MANIFEST, d) for d in children],
    }
    if config is not None:
        doc["config"] = descriptor(mediatypes.OCI_CONFIG, config)
    if subject is not None:
        doc["subject"] = descriptor(mediatypes.OCI_MANIFEST, subject)
    manifest = parse(doc)
    expected = [*children, *([config] if config else []), *layers]
    assert sorted(manifest.blob_references()) == sorted(expected)
    assert manifest.subject == subject


def test_a_digest_met_in_two_manifests_is_held_once() -> None:
    """Two manifests sharing a base layer, parsed from separate bytes, hold one string for
    it, as does a digest read elsewhere (a link, a folder name): a big registry meets each
    digest several times, and one copy each is what keeps it in bounded memory."""
    shared = "".join(["sha256:", "ab" * 32])  # built at run time: not a constant
    first, second = (
        parse(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_MANIFEST,
                "config": descriptor(mediatypes.OCI_CONFIG, own),
                "layers": [
                    descriptor("application/vnd.oci.image.layer.v1.tar+gzip", Digest(shared))
                ],
            }
        )
        for own in (CONFIG, LAYER_A)
    )
    assert first.layers[0].digest == shared
    assert first.layers[0].digest is second.layers[0].digest
    assert first.layers[0].media_type is second.layers[0].media_type
    assert parse_digest("".join(["sha256:", "ab" * 32])) is first.layers[0].digest
    assert first.layers[0].annotations == {}


def test_digests_are_shared_strings_unless_not_to_be() -> None:
    """A manifest that goes to disk at once is parsed without the interning table: its
    digests are not kept alive by it (a million blobs' strings until discovery ended)."""
    forget_interned_digests()
    layer = digest_of("not shared layer")
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": descriptor(mediatypes.OCI_CONFIG, digest_of("not shared config")),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
    }
    raw = json.dumps(doc).encode()
    alone = parse_manifest(digest_of("m"), raw, share_digests=False)
    assert alone.layers[0].digest == layer
    assert intern_digest("".join(list(layer))) is not alone.layers[0].digest  # not in the table
    shared = parse_manifest(digest_of("m"), raw), parse_manifest(digest_of("m"), raw)
    assert shared[0] == alone and shared[0].layers[0].digest is shared[1].layers[0].digest
    forget_interned_digests()
