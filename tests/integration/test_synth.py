"""The synthetic registry tree is one the real registry serves and skopeo pulls in full.

Benchmarks time regsweep on trees written by ``benchmarks.synth`` rather than pushed, so
those figures mean something only if the real distribution 2.8.2 accepts the tree as its
own: every tag pulls with every platform, and its garbage collector finds every blob
referenced. The registry is started and stopped by the benchmarks' own helper, the one
they time it with, so this test does not depend on the shared fixtures.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from benchmarks.synth import SynthStats, bare_walk, repository_name, serve_registry, synthesize

REGISTRY = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")
NOW = 1_780_000_000.0
INDEX = "application/vnd.oci.image.index.v1+json"

needs_tools = pytest.mark.skipif(
    REGISTRY is None or SKOPEO is None,
    reason="needs docker-registry and skopeo (apt-get install -y docker-registry skopeo)",
)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def tree_tags(root: Path) -> dict[str, dict[str, str]]:
    """{repository: {tag: digest}} read straight from the synthesised tree."""
    repos = root / "docker" / "registry" / "v2" / "repositories"
    found: dict[str, dict[str, str]] = {}
    for tags_dir in sorted(repos.glob("**/_manifests/tags")):
        name = tags_dir.parent.parent.relative_to(repos).as_posix()
        found[name] = {t.name: (t / "current" / "link").read_text() for t in tags_dir.iterdir()}
    return found


def blob(root: Path, digest: str) -> bytes:
    hexd = digest.removeprefix("sha256:")
    return (root / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data").read_bytes()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthStats]:
    root = tmp_path_factory.mktemp("synth") / "registry"
    stats = synthesize(
        root,
        repositories=8,
        tags_per_repository=4,
        index_every=7,
        untagged_per_repository=1,
        now=NOW,
        age_spread_days=30,
    )
    return root, stats


def test_layout_and_counts(tree: tuple[Path, SynthStats]) -> None:
    root, stats = tree
    assert stats.repositories == 8
    assert stats.tags == 32
    assert stats.indexes == 3  # builds 6, 13, 20 of 24 tagged builds
    assert stats.untagged == 8 + 2 * 3
    assert bare_walk(root) == stats.files + stats.directories
    tags = tree_tags(root)
    assert sorted(tags) == sorted(repository_name(i) for i in range(8))
    assert any("/" in name for name in tags) and any("/" not in name for name in tags)
    assert "app0/cache" in tags and "org0/team1/platform/job6" in tags
    v2 = root / "docker" / "registry" / "v2"
    for link in v2.glob("repositories/**/link"):
        text = link.read_text()
        assert len(text) == 71 and text.startswith("sha256:"), link
        assert text[7:] == link.parent.name or link.parent.name == "current", link
        assert (v2 / "blobs/sha256" / text[7:9] / text[7:] / "data").is_file(), link
    for name, repo_tags in tags.items():
        assert len(repo_tags) == 4
        assert sum(1 for d in repo_tags.values() if d == repo_tags["latest"]) >= 2, name
        latest = v2 / "repositories" / name / "_manifests/tags/latest"
        pushed = (latest / "current" / "link").stat().st_mtime
        assert NOW - 30 * 86400 <= latest.stat().st_mtime < pushed <= NOW
        assert len(list((latest / "index" / "sha256").iterdir())) == 4  # 1 untagged + 3


def test_deterministic(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a", repositories=3, tags_per_repository=5, seed=7, now=NOW)
    b = synthesize(tmp_path / "b", repositories=3, tags_per_repository=5, seed=7, now=NOW)
    assert tree_tags(tmp_path / "a") == tree_tags(tmp_path / "b")
    assert (a.blobs, a.bytes, a.files) == (b.blobs, b.bytes, b.files)
    with pytest.raises(FileExistsError):
        synthesize(tmp_path / "a", repositories=1, tags_per_repository=1)


@needs_tools
def test_real_registry_serves_every_tag(tree: tuple[Path, SynthStats], tmp_path: Path) -> None:
    root, stats = tree
    expected = tree_tags(root)
    assert SKOPEO is not None and REGISTRY is not None
    with serve_registry(root, tmp_path) as (host, config):
        catalog = get_json(f"http://{host}/v2/_catalog")
        assert sorted(catalog["repositories"]) == sorted(expected)
        for name, tags in expected.items():
            listed = get_json(f"http://{host}/v2/{name}/tags/list")
            assert sorted(listed["tags"]) == sorted(tags)

        def pull(job: tuple[int, str, str, str]) -> tuple[str, str, bytes, int]:
            n, name, tag, _ = job
            out = tmp_path / f"pull-{n}"
            result = subprocess.run(
                [
                    SKOPEO,
                    "--insecure-policy",
                    "copy",
                    "--all",
                    "--src-tls-verify=false",
                    f"docker://{host}/{name}:{tag}",
                    f"dir:{out}",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"{name}:{tag}: {result.stderr}"
            children = len(list(out.glob("*.manifest.json")))
            return name, tag, (out / "manifest.json").read_bytes(), children

        jobs = [
            (n, name, tag, digest)
            for n, (name, tag, digest) in enumerate(
                (name, tag, digest)
                for name, tags in expected.items()
                for tag, digest in tags.items()
            )
        ]
        with ThreadPoolExecutor(max_workers=4) as pool:
            pulled = list(pool.map(pull, jobs))
    assert len(pulled) == stats.tags
    indexes = 0
    for (_, name, tag, digest), (_, _, manifest, children) in zip(jobs, pulled, strict=True):
        assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest, f"{name}:{tag}"
        is_index = json.loads(manifest)["mediaType"] == INDEX
        assert children == (2 if is_index else 0), f"{name}:{tag}"
        indexes += is_index
    assert indexes >= 1

    gc = subprocess.run(
        [REGISTRY, "garbage-collect", str(config), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert f"{stats.blobs} blobs marked, 0 blobs and 0 manifests eligible" in gc.stdout
    assert blob(root, expected["app0"]["latest"])  # the tree itself is untouched
