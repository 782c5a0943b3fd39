"""Storage discovery names each kind of damage, in its repository, and the planner skips
exactly the repositories whose damage may hide a manifest."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.core.damage import Defect
from regsweep.core.model import Inventory
from regsweep.plan.planner import build_plan
from regsweep.policy.rules import Policy
from regsweep.sources.storage import layout
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore
from regsweep.sources.storage.store import FolderFilter, StoredFile
from tests.unit.collect.native.tree import Tree, hex_of

#: Every tag and untagged manifest of the tree is older than this policy keeps.
EXPIRE_ALL = Policy(pushed_within=timedelta(days=1), exclude_tags=None)
NOW = datetime.now(UTC)


def _discover(tree: Tree) -> Inventory:
    return discover_storage(LocalStore(tree.root), workers=2)


def _defects(inventory: Inventory) -> set[tuple[Defect | None, str | None, str | None]]:
    return {(p.defect, p.repository, p.subject) for p in inventory.problems}


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """Two repositories whose every tag and manifest the policy above deletes."""
    tree = Tree(tmp_path / "root")
    tree.image("app", "v1", seed="app")
    tree.image("web", "v1", seed="web")
    return tree


def _only_web_is_cleaned(inventory: Inventory) -> None:
    plan = build_plan(inventory, EXPIRE_ALL, NOW)
    assert {a.repository for a in plan.actions} == {"web"}
    assert [s.repository for s in plan.skipped] == ["app"]
    assert plan.summary.repositories_skipped == 1


def test_an_empty_tag_link_skips_its_repository(tree: Tree) -> None:
    link = tree.repo("app") / "_manifests" / "tags" / "v1" / "current" / "link"
    link.write_bytes(b"")
    inventory = _discover(tree)
    assert _defects(inventory) == {(Defect.TAG_LINK, "app", "v1")}
    _only_web_is_cleaned(inventory)


@pytest.mark.parametrize(
    ("content", "defect"),
    [(b"", Defect.REVISION_LINK), (b"sha256:" + b"ab" * 32, Defect.REVISION_LINK_FOREIGN)],
)
def test_a_revision_link_holding_no_digest_or_another_skips_its_repository(
    tree: Tree, content: bytes, defect: Defect
) -> None:
    digest = layout.parse_link((tree.repo("app") / "_manifests/tags/v1/current/link").read_bytes())
    tree.revision_link("app", digest).write_bytes(content)
    inventory = _discover(tree)
    assert _defects(inventory) == {(defect, "app", digest)}
    _only_web_is_cleaned(inventory)


@pytest.mark.parametrize(
    ("damage", "defect"),
    [("truncated", Defect.MANIFEST_UNPARSEABLE), ("missing", Defect.MANIFEST_MISSING)],
)
def test_a_manifest_cut_short_or_missing_skips_every_repository_holding_it(
    tree: Tree, damage: str, defect: Defect
) -> None:
    digest = layout.parse_link((tree.repo("app") / "_manifests/tags/v1/current/link").read_bytes())
    data = tree.blob_path(digest)
    if damage == "truncated":
        data.write_bytes(data.read_bytes()[:10])
    else:
        shutil.rmtree(data.parent)
    inventory = _discover(tree)
    assert _defects(inventory) == {(defect, "app", digest)}
    _only_web_is_cleaned(inventory)


@pytest.mark.parametrize(
    ("symlinked", "defect", "subject"),
    [
        ("", Defect.REPOSITORY_SYMLINK, None),
        ("/_manifests", Defect.REVISION_SYMLINK, None),
        ("/_manifests/tags", Defect.TAG_SYMLINK, None),
        ("/_manifests/tags/v1", Defect.TAG_SYMLINK, "v1"),
        ("/_manifests/revisions", Defect.REVISION_SYMLINK, None),
    ],
)
def test_a_symlink_where_tags_or_manifests_are_skips_its_repository(
    tree: Tree, tmp_path: Path, symlinked: str, defect: Defect, subject: str | None
) -> None:
    folder = tree.repo("app").parent / f"app{symlinked}"
    shutil.move(folder, tmp_path / "elsewhere")
    folder.symlink_to(tmp_path / "elsewhere")
    inventory = _discover(tree)
    assert _defects(inventory) == {(defect, "app", subject)}
    _only_web_is_cleaned(inventory)


def test_a_symlinked_revision_names_its_digest(tree: Tree, tmp_path: Path) -> None:
    digest = layout.parse_link((tree.repo("app") / "_manifests/tags/v1/current/link").read_bytes())
    folder = tree.revision_link("app", digest).parent
    shutil.move(folder, tmp_path / "elsewhere")
    folder.symlink_to(tmp_path / "elsewhere")
    inventory = _discover(tree)
    assert (Defect.REVISION_SYMLINK, "app", digest) in _defects(inventory)
    _only_web_is_cleaned(inventory)


def test_a_folder_whose_name_is_not_a_name_is_listed_once_and_skipped(tree: Tree) -> None:
    shutil.copytree(tree.repo("app"), tree.repo("Bad_Name"))
    inventory = _discover(tree)
    assert _defects(inventory) == {(Defect.INVALID_NAME, "Bad_Name", None)}
    plan = build_plan(inventory, EXPIRE_ALL, NOW)
    assert {a.repository for a in plan.actions} == {"app", "web"}
    assert [s.repository for s in plan.skipped] == ["Bad_Name"]


def test_a_garbage_layer_link_is_reported_and_skips_nothing(tree: Tree) -> None:
    """``_layers`` only lets a repository serve a blob: no tag or manifest hides there."""
    layers = tree.repo("app") / "_layers" / "sha256"
    first = sorted(layers.iterdir())[0]
    (first / "link").write_bytes(b"garbage")
    inventory = _discover(tree)
    assert _defects(inventory) == {(Defect.LAYER_LINK, "app", f"sha256:{first.name}")}
    assert f"sha256:{first.name}" not in inventory.repositories["app"].layers
    plan = build_plan(inventory, EXPIRE_ALL, NOW)
    assert {a.repository for a in plan.actions} == {"app", "web"}
    assert plan.skipped == ()


@pytest.mark.parametrize(
    "stray",
    [
        "app/_manifests/tags/..v1/current/link",
        "app/_manifests/revisions/sha256/NOTHEX/link",
        "app/_manifests/tags/v1/notes.txt",
        "app/README",
    ],
)
def test_stray_files_the_registry_never_reads_skip_nothing(tree: Tree, stray: str) -> None:
    tree.write(Path(layout.REPOSITORIES) / stray, b"whatever")
    inventory = _discover(tree)
    assert {p.defect for p in inventory.problems} == {Defect.STRAY}
    plan = build_plan(inventory, EXPIRE_ALL, NOW)
    assert {a.repository for a in plan.actions} == {"app", "web"}


class _FlatListing(LocalStore):
    """Lists every file below a prefix, as object storage does: nothing is left out."""

    def list_files(self, prefix: str, skip: FolderFilter | None = None) -> Iterator[StoredFile]:
        return super().list_files(prefix)


@pytest.mark.parametrize("store", [LocalStore, _FlatListing])
def test_what_is_in_a_tag_s_history_decides_nothing_and_is_not_reported(
    tree: Tree, tmp_path: Path, store: type[LocalStore]
) -> None:
    """A tag's history (``tags/<tag>/index``) is every digest it pointed to: a folder is not
    walked, a flat listing's keys there are passed over, and what is in it is not reported."""
    history = tree.repo("app") / "_manifests" / "tags" / "v1" / "index"
    assert list(history.glob("sha256/*/link"))  # the tree writes one, as the registry does
    (history / "notes.txt").write_bytes(b"whatever")
    (history / "sha256" / "elsewhere").symlink_to(tmp_path)
    (history / "sha256" / ("ab" * 32)).mkdir()  # an entry whose link is missing
    inventory = discover_storage(store(tree.root), workers=2)
    assert inventory.problems == ()
    assert inventory.repositories["app"].tags.keys() == {"v1"}
    plan = build_plan(inventory, EXPIRE_ALL, NOW)
    assert {a.repository for a in plan.actions} == {"app", "web"}


def test_damage_in_a_repository_no_policy_covers_is_no_one_s_business(tree: Tree) -> None:
    """Scoping a repository out scopes its damage out: nothing is listed as skipped."""
    (tree.repo("app") / "_manifests" / "tags" / "v1" / "current" / "link").write_bytes(b"")
    scoped = Policy(
        pushed_within=timedelta(days=1), exclude_tags=None, exclude_repositories=re.compile("app")
    )
    plan = build_plan(_discover(tree), scoped, NOW)
    assert {a.repository for a in plan.actions} == {"web"}
    assert plan.skipped == ()


def test_a_damaged_repository_keeps_its_layers_out_of_the_bytes_freed(tree: Tree) -> None:
    """What a damaged repository could not read may need any blob linked into it."""
    (tree.repo("app") / "_manifests" / "tags" / "v1" / "current" / "link").write_bytes(b"")
    inventory = _discover(tree)
    plan = build_plan(inventory, EXPIRE_ALL, NOW)
    for digest in inventory.repositories["app"].layers:
        assert digest not in plan.reclaimable_blobs
    assert hex_of(next(iter(inventory.repositories["web"].layers))) in {
        hex_of(d) for d in plan.reclaimable_blobs
    }
