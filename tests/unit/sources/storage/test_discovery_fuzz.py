"""The storage parser on garbage: no crash, no invalid name, no read outside the root.

Trees are written into a fresh temporary folder per example. Every symlink points into a
"mirror" outside the root: a well-formed registry whose only repository, tag and digest are
called sentinel, laid out so that following the symlink would find valid data at that spot.
If anything of the mirror shows up in a parsed result, discovery followed a symlink.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regsweep.core import mediatypes, names
from regsweep.core.errors import NotARegistryError
from regsweep.core.model import Digest, Inventory, digest_hex, parse_digest
from regsweep.plan.planner import build_plan
from regsweep.policy.rules import Policy
from regsweep.sources.storage import layout
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore
from regsweep.sources.storage.store import FolderFilter, PathEscapeError, StoredFile, check_relative
from tests.unit.strategies import digest_of

SENTINEL = "sentinel"
SENTINEL_DIGEST = digest_of(SENTINEL)
SENTINEL_LAYER = digest_of("sentinel layer")
KNOWN = [digest_of(f"known-{i}") for i in range(3)]
V2 = layout.V2
R = layout.REPOSITORIES
B = layout.BLOBS
SPINE = ("docker", "docker/registry", V2, R, B, f"{B}/sha256")
#: Where each example's tree goes: a RAM disk when there is one. On this machine's disk,
#: making and removing the ~40 folders of a tree takes ~50 ms (3 ms in RAM).
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


# --- strategies for garbage trees ----------------------------------------------------------

REPO_NAMES = st.sampled_from(
    [
        "app",
        "team/app",
        "a/b/c",
        "Upper",
        "a..b",
        "..a",
        "-a",
        "a b",
        "é",
        "a/_x",
        "_hidden",
        "sha256",
        "..",
        "a/..",
        "x" * 200 + "/" + "y" * 60,
    ]
)
TAG_NAMES = st.sampled_from(
    ["latest", "v1.0", "_x", ".hidden", "-dash", "a" * 128, "a" * 129, "é", "..", "...", "t t"]
)
HEXES = st.one_of(
    st.sampled_from([digest_hex(d) for d in KNOWN]),
    st.sampled_from(["xyz", digest_hex(KNOWN[0]).upper(), digest_hex(KNOWN[0])[:63], ".."]),
)
LINK_CONTENTS = st.one_of(
    st.sampled_from([d.encode() for d in KNOWN]),
    st.sampled_from([f" {KNOWN[0]}\n".encode(), b"sha256:../../etc", b"\xff\xfe", b""]),
    st.binary(max_size=80),
)
MANIFEST_CONTENTS = st.one_of(
    st.builds(
        lambda layer: json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_MANIFEST,
                "config": {"digest": KNOWN[2], "size": 2},
                "layers": [{"digest": layer, "size": 3}],
            }
        ).encode(),
        st.sampled_from(KNOWN),
    ),
    st.binary(max_size=60),
)


def _templates(repo: str, tag: str, hex_: str) -> list[str]:
    return [
        f"{R}/{repo}/_manifests/tags/{tag}/current/link",
        f"{R}/{repo}/_manifests/tags/{tag}/index/sha256/{hex_}/link",
        f"{R}/{repo}/_manifests/revisions/sha256/{hex_}/link",
        f"{R}/{repo}/_layers/sha256/{hex_}/link",
        f"{R}/{repo}/_uploads/0f3a/data",
        f"{R}/{repo}/_manifests/extra",
        f"{R}/{repo}/stray",
        f"{B}/sha256/{hex_[:2]}/{hex_}/data",
        f"{B}/sha256/{hex_[:2]}/{hex_}/extra",
        f"{B}/sha256/zz/{hex_}/data",
        f"{B}/stray",
        f"{V2}/stray",
    ]


@dataclass(frozen=True)
class Entry:
    path: str
    content: bytes
    symlink_at: int | None  # component index turned into a symlink into the mirror


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    repo, tag, hex_ = draw(REPO_NAMES), draw(TAG_NAMES), draw(HEXES)
    path = draw(st.sampled_from(_templates(repo, tag, hex_)))
    content = draw(MANIFEST_CONTENTS if path.endswith("/data") else LINK_CONTENTS)
    parts = path.split("/")
    symlink_at = draw(st.none() | st.none() | st.integers(0, len(parts) - 1))
    return Entry(path, content, symlink_at)


# --- writing trees --------------------------------------------------------------------------


def write_mirror(mirror: Path) -> None:
    """A valid registry outside the root: sentinel data at every place a symlink may lead."""
    manifest = json.dumps(
        {"schemaVersion": 2, "layers": [{"digest": SENTINEL_LAYER, "size": 1}]}
    ).encode()
    files = {
        layout.blob_data(SENTINEL_DIGEST): manifest,
        f"{R}/{SENTINEL}/_manifests/tags/{SENTINEL}/current/link": SENTINEL_DIGEST.encode(),
        layout.revision_link(SENTINEL, SENTINEL_DIGEST): SENTINEL_DIGEST.encode(),
    }
    for rel, content in files.items():
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(content)


def _inside(root: Path, path: Path) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)


def _through_symlink(root: Path, rel: str) -> bool:
    """Whether any folder on the way to ``rel`` is a symlink (or a file)."""
    folder = root
    for part in rel.split("/")[:-1]:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            return True
    return False


def write_tree(root: Path, mirror: Path, planted: list[Entry]) -> tuple[set[str], set[str]]:
    """Write the symlinks first, then the regular files; returns (files, symlinks) written.

    Nothing is ever written through a symlink: an entry with a symlink (or a file) on its
    way is skipped, so the mirror outside the root stays as :func:`write_mirror` made it.
    """
    files: set[str] = set()
    links: set[str] = set()
    (root / V2).mkdir(parents=True)
    for entry in planted:
        if entry.symlink_at is None:
            continue
        rel = "/".join(entry.path.split("/")[: entry.symlink_at + 1])
        link = root / rel
        if rel != os.path.normpath(rel) or _through_symlink(root, rel) or os.path.lexists(link):
            continue
        try:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(mirror / rel)
        except OSError:  # a name too long
            continue
        links.add(rel)
    for entry in planted:
        path = os.path.normpath(entry.path)  # a name ".." lands one folder up, as on disk
        target = root / path
        if path.startswith("..") or _through_symlink(root, path) or os.path.lexists(target):
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.content)
        except OSError:  # a file where a folder is wanted, or a name too long
            continue
        files.add(path)
    return files, links


class GuardedStore(LocalStore):
    """A LocalStore that fails the test the moment anything outside the root is touched."""

    def list_files(self, prefix: str, skip: FolderFilter | None = None) -> Iterator[StoredFile]:
        for stored in super().list_files(prefix, skip):
            if not stored.is_link:
                assert _inside(self.root, self.root / stored.path), f"listed outside: {stored}"
            yield stored

    def read(self, path: str) -> bytes:
        full = self.root / path
        if not os.path.islink(full):
            assert _inside(self.root, full), f"read outside the root: {path}"
        return super().read(path)


# --- properties -----------------------------------------------------------------------------

_IGNORED = re.compile(rf"{R}/.+?/_uploads/.*")
#: a tag's history: not walked (a folder) or passed over (a flat listing), whatever is in it
_UNREAD = re.compile(rf"{R}/[^/_][^/]*(/[^/_][^/]*)*/_manifests/tags/[^/]+/index(/.*)?")


def represented(inventory: Inventory) -> set[str]:
    """The storage paths the inventory says it read."""
    paths = {layout.blob_data(d) for d in inventory.blob_sizes}
    for name, repository in inventory.repositories.items():
        paths |= {layout.tag_current_link(name, t) for t in repository.tags}
        paths |= {layout.revision_link(name, d) for d in repository.revisions}
        paths |= {layout.layer_link(name, d) for d in repository.layers}
    return paths


def check_inventory(root: Path, inventory: Inventory, files: set[str], links: set[str]) -> None:
    text = repr(inventory)
    assert SENTINEL not in text and digest_hex(SENTINEL_DIGEST) not in text
    assert digest_hex(SENTINEL_LAYER) not in text

    for name, repository in inventory.repositories.items():
        assert names.is_repository_name(name) and repository.name == name
        for tag_name, tag in repository.tags.items():
            assert names.is_tag_name(tag_name)
            assert (tag.repository, tag.name) == (name, tag_name)
            assert parse_digest(tag.digest) == tag.digest
            link = layout.tag_current_link(name, tag_name)
            assert link in files
            assert layout.parse_link((root / link).read_bytes()) == tag.digest
        for digest in [*repository.revisions, *repository.layers]:
            assert parse_digest(digest) == digest
    for digest, size in inventory.blob_sizes.items():
        assert layout.blob_data(digest) in files
        assert (root / layout.blob_data(digest)).stat().st_size == size
    for digest, manifest in inventory.manifests.items():
        assert manifest.digest == digest and layout.blob_data(digest) in files

    # every file discovery could see is read, knowingly ignored, or reported (alone, or
    # with the whole folder of a repository whose name is not a name)
    reported = {p.location for p in inventory.problems}
    seen = represented(inventory) | reported
    scanned = [p for p in files if p.startswith((f"{R}/", f"{B}/sha256/"))]
    for path in scanned:
        if not (_IGNORED.fullmatch(path) or _UNREAD.fullmatch(path)):
            inside = any(path.startswith(f"{folder}/") for folder in reported)
            assert path in seen or inside, f"{path} neither read nor reported"
    for link in links:
        if link.startswith((f"{R}/", f"{B}/sha256/")) and not _UNREAD.fullmatch(link):
            assert link in seen, f"symlink {link} not reported"


@given(st.lists(entries(), max_size=14))
def test_discovery_of_garbage_never_crashes_escapes_or_invents(planted: list[Entry]) -> None:
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        root, mirror = Path(tmp, "root"), Path(tmp, "mirror")
        write_mirror(mirror)
        files, links = write_tree(root, mirror, planted)
        try:
            inventory = discover_storage(GuardedStore(root), workers=2)
        except NotARegistryError:
            assert links & set(SPINE), "refused a tree whose spine has no symlink"
            return
        assert not links & set(SPINE), "a symlinked spine folder was not refused"
        check_inventory(root, inventory, files, links)


def _symlink_into_mirror(tmp_path: Path, at: str, target: str | None = None) -> Path:
    """A root whose ``at`` is a symlink to ``target`` (default: the same place) in the mirror."""
    root, mirror = tmp_path / "root", tmp_path / "mirror"
    write_mirror(mirror)
    (root / at).parent.mkdir(parents=True)
    (root / at).symlink_to(mirror / (target or at))
    return root


@pytest.mark.parametrize("symlinked", SPINE)
def test_a_symlinked_folder_on_the_spine_is_refused(tmp_path: Path, symlinked: str) -> None:
    """Regression: a symlinked ``repositories`` (or any folder above it) was listed through.

    ``os.scandir`` follows a symlink given as the folder to list, so the check on each
    entry came too late for the folder discovery starts from.
    """
    root = _symlink_into_mirror(tmp_path, symlinked)
    with pytest.raises(NotARegistryError, match=f"{symlinked} is a symlink"):
        discover_storage(GuardedStore(root), workers=2)


@pytest.mark.parametrize("below", ["", "/_manifests", "/_manifests/tags"])
def test_a_symlinked_folder_inside_a_repository_is_reported_not_followed(
    tmp_path: Path, below: str
) -> None:
    root = _symlink_into_mirror(tmp_path, f"{R}/app{below}", f"{R}/{SENTINEL}{below}")
    inventory = discover_storage(GuardedStore(root), workers=2)
    assert SENTINEL not in repr(inventory)
    assert [p.location for p in inventory.problems] == [f"{R}/app{below}"]


@pytest.mark.parametrize("symlinked", [R, f"{R}/app", f"{R}/app/_manifests/tags/v1"])
def test_the_store_never_lists_or_deletes_through_a_symlinked_folder(
    tmp_path: Path, symlinked: str
) -> None:
    """Regression: ``delete_tree`` below a symlinked folder removed files outside the root."""
    target = symlinked.replace("/app", f"/{SENTINEL}").replace("/v1", f"/{SENTINEL}")
    root = _symlink_into_mirror(tmp_path, symlinked, target)
    store = LocalStore(root)
    mirror = tmp_path / "mirror"
    before = sorted(p.relative_to(mirror) for p in mirror.rglob("*"))
    below = f"{symlinked}/current"
    with pytest.raises(PathEscapeError):
        store.delete_tree(below)
    with pytest.raises(PathEscapeError):
        store.list_dir(below)
    with pytest.raises(PathEscapeError):
        store.list_dir(symlinked)
    with pytest.raises(PathEscapeError):
        store.stat(f"{below}/link")
    assert list(store.list_files(symlinked)) == [StoredFile(symlinked, 0, 0.0, is_link=True)]
    assert list(store.list_files(below)) == [StoredFile(below, 0, 0.0, is_link=True)]
    assert store.delete_tree(symlinked)  # the link itself goes, never what it points to
    assert not os.path.lexists(root / symlinked)
    assert sorted(p.relative_to(mirror) for p in mirror.rglob("*")) == before


def test_a_skipped_tag_does_not_let_its_manifest_be_deleted(tmp_path: Path) -> None:
    """The registry follows symlinks and serves this tag; regsweep skips it (rightly) but
    must then not treat the manifest behind it as untagged."""
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    manifest = b'{"schemaVersion": 2, "layers": []}'
    digest = KNOWN[0]
    for rel, content in (
        (layout.blob_data(digest), manifest),
        (layout.revision_link("app", digest), digest.encode()),
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    old = (datetime.now(UTC) - timedelta(days=90)).timestamp()
    os.utime(root / layout.revision_link("app", digest), (old, old))
    (elsewhere / "current").mkdir(parents=True)
    (elsewhere / "current" / "link").write_bytes(digest.encode())
    (root / layout.tags_folder("app")).mkdir(parents=True)
    (root / layout.tag_folder("app", "v1.2.3")).symlink_to(elsewhere)
    inventory = discover_storage(LocalStore(root), workers=1)
    assert inventory.problems
    assert build_plan(inventory, Policy(), datetime.now(UTC)).manifest_deletes == []


def test_symlinked_link_and_blob_files_are_reported_and_never_read(tmp_path: Path) -> None:
    root, mirror = tmp_path / "root", tmp_path / "mirror"
    write_mirror(mirror)
    hex_ = digest_hex(KNOWN[0])
    tag_link = f"{R}/app/_manifests/tags/v1/current/link"
    revision = f"{R}/app/_manifests/revisions/sha256/{hex_}/link"
    data = f"{B}/sha256/{hex_[:2]}/{hex_}/data"
    secret = tmp_path / "secret"
    secret.write_bytes(SENTINEL_DIGEST.encode())
    for rel in (tag_link, revision, data):
        (root / rel).parent.mkdir(parents=True)
        (root / rel).symlink_to(secret)
    inventory = discover_storage(GuardedStore(root), workers=2)
    assert SENTINEL_DIGEST not in repr(inventory)
    locations = {p.location for p in inventory.problems}
    assert {tag_link, revision, data} <= locations


# --- the path guard and the layout parsers ---------------------------------------------------

PATH_TEXT = st.text(alphabet="ab./\\_-\x00é", max_size=20)


@given(PATH_TEXT)
def test_check_relative_refuses_every_path_that_could_leave_the_root(path: str) -> None:
    clean = "\\" not in path and all(p not in ("", ".", "..") for p in path.split("/"))
    try:
        checked = check_relative(path)
    except PathEscapeError:
        assert not clean  # and accepts every clean path: its fast path skips no case
        return
    root = "/srv/registry"
    assert checked == path
    assert os.path.normpath(os.path.join(root, path)).startswith(root + "/")
    assert ".." not in path.split("/") and not path.startswith("/") and "\\" not in path


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "..", "a/../..", "a/./b", "a//b", "a/", "a\\..\\b", "./a"]
)
def test_check_relative_refuses_escapes(path: str) -> None:
    with pytest.raises(PathEscapeError):
        check_relative(path)


@given(st.text(alphabet="ab_./-Z", max_size=30))
def test_split_repository_path_returns_a_valid_name_or_nothing(relative: str) -> None:
    split = layout.split_repository_path(relative)
    parts = relative.split("/")
    first = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
    if first is None or first == 0 or not names.is_repository_name("/".join(parts[:first])):
        assert split is None
        return
    assert split is not None
    assert split.repository == "/".join(parts[:first])  # the name ends at the first "_"
    assert split.section == parts[first]
    assert split.rest == tuple(parts[first + 1 :])


@given(st.text(max_size=40), st.text(max_size=40))
def test_path_builders_refuse_names_that_are_not_names(repository: str, tag: str) -> None:
    try:
        path = layout.tag_current_link(repository, tag)
    except ValueError:
        assert not (names.is_repository_name(repository) and names.is_tag_name(tag))
        return
    assert check_relative(path) == path
    split = layout.split_repository_path(path[len(R) + 1 :])
    assert split == layout.RepositoryPath(
        repository, "_manifests", ("tags", tag, "current", "link")
    )


@given(st.one_of(st.binary(max_size=80), st.sampled_from([d.encode() for d in KNOWN])))
def test_parse_link_returns_a_sha256_digest_or_raises_value_error(content: bytes) -> None:
    try:
        digest = layout.parse_link(content)
    except ValueError:
        return
    assert parse_digest(digest) == digest == content.decode("ascii").strip()


@given(st.text(max_size=70))
def test_digest_from_hex_accepts_only_64_lowercase_hex(text: str) -> None:
    digest = layout.digest_from_hex(text)
    assert digest is None or parse_digest(digest) == Digest(f"sha256:{text}")


# --- not a registry -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout_made", "hint"),
    [
        ([], False),
        (["some/other/folder"], False),
        (["registry/v2/repositories"], True),  # pointed one level too deep
        (["v2/repositories"], True),
    ],
)
def test_a_folder_that_is_not_a_registry_is_refused(
    tmp_path: Path, layout_made: list[str], hint: bool
) -> None:
    for folder in layout_made:
        (tmp_path / folder).mkdir(parents=True)
    with pytest.raises(NotARegistryError, match="not a registry storage root") as caught:
        discover_storage(LocalStore(tmp_path))
    assert ("docker/registry/v2 inside (point at" in str(caught.value)) == hint


def test_a_file_given_as_the_root_is_not_a_registry(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotARegistryError):
        discover_storage(LocalStore(tmp_path / "file"))


def test_stored_file_of_a_symlink_is_marked(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "l").symlink_to("/etc/hostname")
    assert list(LocalStore(tmp_path).list_files("d")) == [StoredFile("d/l", 0, 0.0, is_link=True)]
