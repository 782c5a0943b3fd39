"""Storage discovery holds a big registry compactly: every blob digest packed as it is
listed (no string made for a blob or a layer link), then one string each when the manifests
stay in memory (their descriptors hold it anyway), the interning table let go of once every
digest is read; past the memory limit, the manifests on disk and the digests left packed,
with the same answers."""

from __future__ import annotations

from pathlib import Path

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


def test_with_the_manifests_in_memory_every_place_of_a_digest_holds_one_string(
    tmp_path: Path,
) -> None:
    """Listed packed, the blob digests become the strings the manifests' descriptors hold
    (one each, shared by the sizes and the layer links), and the table is let go of."""
    tree, image = _tree(tmp_path)
    inventory = discover_storage(LocalStore(tree.root), workers=2)
    sizes = inventory.blob_sizes
    assert isinstance(sizes, SortedSizes) and not isinstance(sizes.digests, PackedDigests)
    config = Digest(str(image["config"]))
    data = tree.root / "docker/registry/v2/blobs/sha256" / config[7:9] / config[7:] / "data"
    assert sizes[config] == data.stat().st_size
    in_store = sizes.digests[sizes.place(config) or 0]
    app = inventory.repositories["app"]
    linked = next(d for d in app.layers if d == config)
    manifest = inventory.manifests[Digest(str(image["manifest"]))]
    assert manifest.config is not None
    assert in_store == config
    assert linked is in_store and manifest.config.digest is in_store
    assert app.links(config) and not inventory.repositories["web"].links(config)
    # the interning table was let go: the same digest met again is a string of its own
    again = intern_digest("".join(list(config)))
    assert again == config and again is not in_store


def test_the_manifests_on_disk_answer_as_in_memory(tmp_path: Path) -> None:
    """Past the memory limit the manifests go to disk as they are read; the inventory
    answers as the one held in memory."""
    tree, _ = _tree(tmp_path)
    in_memory = discover_storage(LocalStore(tree.root), workers=2)
    on_disk = discover_storage(LocalStore(tree.root), workers=2, budget=memory_budget(0))
    assert isinstance(on_disk.manifests, ManifestMap) and on_disk.manifests.spilled
    assert isinstance(in_memory.manifests, ManifestMap) and not in_memory.manifests.spilled
    # nothing else holds a blob's digest string: the sizes and the layer links stay packed
    sizes = on_disk.blob_sizes
    assert isinstance(sizes, SortedSizes) and isinstance(sizes.digests, PackedDigests)
    assert all(isinstance(r.layers, PackedDigests) for r in on_disk.repositories.values())
    assert dict(on_disk.manifests.items()) == dict(in_memory.manifests.items())
    assert list(on_disk.blob_sizes.items()) == list(in_memory.blob_sizes.items())
    for name, repository in on_disk.repositories.items():
        held = in_memory.repositories[name]
        assert list(repository.layers) == list(held.layers)
        assert (repository.tags, repository.revisions) == (held.tags, held.revisions)
