"""Storage discovery holds each digest once, in the layout that suits a big registry: the
blob sizes in digest order, the interning table let go of once every digest is read, and
the blob digests packed once the manifests are on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from regsweep.core import manifest_map
from regsweep.core.manifest_map import ManifestMap
from regsweep.core.model import Digest, intern_digest
from regsweep.core.packed_digests import PackedDigests
from regsweep.core.sorted_sizes import SortedSizes
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore
from regsweep.state.spill import memory_budget
from tests.unit.collect.native.tree import Tree


def _tree(tmp_path: Path) -> tuple[Tree, dict[str, object]]:
    tree = Tree(tmp_path / "root")
    image = tree.image("app", "v1", seed="app")
    tree.image("web", "v1", seed="web")
    return tree, image


def test_every_place_of_a_digest_holds_one_string_and_the_table_is_let_go(
    tmp_path: Path,
) -> None:
    tree, image = _tree(tmp_path)
    inventory = discover_storage(LocalStore(tree.root), workers=2)
    sizes = inventory.blob_sizes
    assert isinstance(sizes, SortedSizes)
    config = Digest(str(image["config"]))
    in_store = sizes.digests[sizes.place(config) or 0]
    linked = next(d for d in inventory.repositories["app"].layers if d == config)
    manifest = inventory.manifests[Digest(str(image["manifest"]))]
    assert manifest.config is not None
    assert in_store == config
    assert linked is in_store and manifest.config.digest is in_store
    # the interning table was let go: the same digest met again is a string of its own
    again = intern_digest("".join(list(config)))
    assert again == config and again is not in_store


def test_sizes_spilled_while_listed_come_back_in_order_with_the_same_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the memory limit the sizes go to disk as the tree is listed, and come back in
    digest order once it is: while the manifests stay in memory (here, estimated at
    nothing), each digest the string the layer links hold, not a second."""
    monkeypatch.setattr(manifest_map, "estimated_bytes", lambda _manifest: 0)
    tree, image = _tree(tmp_path)
    in_memory = discover_storage(LocalStore(tree.root), workers=2)
    on_disk = discover_storage(LocalStore(tree.root), workers=2, budget=memory_budget(0))
    sizes = on_disk.blob_sizes
    assert isinstance(sizes, SortedSizes) and not isinstance(sizes.digests, PackedDigests)
    assert isinstance(on_disk.manifests, ManifestMap) and not on_disk.manifests.spilled
    assert sizes == in_memory.blob_sizes
    config = Digest(str(image["config"]))
    linked = next(d for d in on_disk.repositories["app"].layers if d == config)
    assert sizes.digests[sizes.place(config) or 0] is linked


def test_with_the_manifests_on_disk_the_blob_digests_are_packed(tmp_path: Path) -> None:
    """Once the manifests spill, nothing else holds a blob's digest string but the sizes
    and the layer links: both are packed, and the inventory answers as the one in memory."""
    tree, image = _tree(tmp_path)
    in_memory = discover_storage(LocalStore(tree.root), workers=2)
    on_disk = discover_storage(LocalStore(tree.root), workers=2, budget=memory_budget(0))
    assert isinstance(on_disk.manifests, ManifestMap) and on_disk.manifests.spilled
    sizes = on_disk.blob_sizes
    assert isinstance(sizes, SortedSizes) and isinstance(sizes.digests, PackedDigests)
    assert dict(sizes.items()) == dict(in_memory.blob_sizes.items())
    assert dict(on_disk.manifests.items()) == dict(in_memory.manifests.items())
    for name, repository in on_disk.repositories.items():
        assert isinstance(repository.layers, PackedDigests)
        held = in_memory.repositories[name]
        assert list(repository.layers) == list(held.layers)
        assert (repository.tags, repository.revisions) == (held.tags, held.revisions)
    config = Digest(str(image["config"]))
    assert on_disk.repositories["app"].links(config)
    assert not on_disk.repositories["web"].links(config)
