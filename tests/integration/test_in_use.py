"""Images in use (``--in-use``, ``--in-use-command``) on the real registry, proven with skopeo.

One old registry where every tag has expired: the references protect exactly their images
(by tag, by digest, through a multi-arch index) and everything else goes.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import clean_env, local_gc, regsweep, regsweep_in_process
from tests.support.images import PushedManifest, Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import (
    revision_exists,
    set_manifest_time,
    set_push_time,
    tag_exists,
    tree_fingerprint,
)

OLD = time.time() - 90 * 86400


@dataclass
class Old:
    """Every tag pushed 90 days ago, none protected by name."""

    by_tag: PushedManifest
    by_digest: PushedManifest
    release: PushedManifest
    stale: PushedManifest

    @property
    def manifests(self) -> list[PushedManifest]:
        return [self.by_tag, self.by_digest, self.release, *self.release.children, self.stale]


def push_old_registry(pusher: Pusher, root: Path) -> Old:
    def aged(image: PushedManifest, *tags: str) -> PushedManifest:
        set_manifest_time(root, "app", image.digest, OLD)
        for tag in tags:
            set_push_time(root, "app", tag, OLD)
        return image

    by_tag = aged(pusher.push_image("app", "build-101"), "build-101")
    by_digest = pusher.push_image("app", "build-102")
    pusher.tag("app", "build-102-rc", by_digest)  # a re-PUT: age the revision after it
    aged(by_digest, "build-102", "build-102-rc")
    children = [
        aged(pusher.push_image("app", oci=True)),
        aged(pusher.push_image("app", oci=True, platform=("linux", "arm64", "v8"))),
    ]
    release = aged(pusher.push_index("app", "build-103", children), "build-103")
    stale = aged(pusher.push_image("app", "build-104"), "build-104")
    return Old(by_tag, by_digest, release, stale)


def references(registry: RegistryServer, old: Old) -> str:
    """What ``docker ps --format '{{.Image}}'`` prints on a host running three of them."""
    host = registry.host
    return "\n".join(
        [
            "# containers on web-1",
            f"{host}/app:build-101",
            f"{host}/app@{old.by_digest.digest}",
            f"{host}/app@{old.release.children[0].digest}",  # one platform of build-103
            "other.example.com/app:build-104",  # another registry: protects nothing here
            "app:build-104",  # Docker Hub's library/app, not ours
            "",
        ]
    )


def run_args(registry: RegistryServer, *extra: str) -> list[str]:
    return [
        "run",
        "--registry-dir",
        str(registry.root),
        "--registry-url",
        registry.url,
        "--exclude-tags",
        "^latest$",
        "--force",  # every tag is old: the brake would stop the control run
        *local_gc(registry),
        *extra,
    ]


def assert_protected_exactly(registry: RegistryServer, old: Old, tmp_path: Path) -> None:
    registry.restart()  # what --restart-command does in production
    for tag in ("build-101", "build-102", "build-102-rc", "build-103"):
        assert_pulls(registry.host, "app", tag, tmp_path / "pulls")
    assert_pulls(registry.host, "app", old.by_digest.digest, tmp_path / "pulls")
    assert_pulls(registry.host, "app", old.release.children[0].digest, tmp_path / "pulls")
    assert not tag_exists(registry.root, "app", "build-104")
    assert not revision_exists(registry.root, "app", old.stale.digest)


def test_an_in_use_file_keeps_images_used_by_tag_by_digest_and_through_their_index(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    old = push_old_registry(pusher, registry.root)
    in_use = tmp_path / "in-use.txt"
    in_use.write_text(references(registry, old))

    done = regsweep(*run_args(registry, "--in-use", str(in_use)), env=clean_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert "images in use: 3 references" in done.stderr
    assert_protected_exactly(registry, old, tmp_path)


def test_an_in_use_command_is_read_the_same_way(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    old = push_old_registry(pusher, registry.root)
    script = tmp_path / "kubectl.py"  # prints the images space-separated, as jsonpath does
    lines = references(registry, old).splitlines()
    script.write_text(f"print({' '.join(lines[1:])!r})\n")
    command = f"{sys.executable} {script}"

    done = regsweep(*run_args(registry, "--in-use-command", command), env=clean_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert_protected_exactly(registry, old, tmp_path)


def test_without_the_list_the_same_run_deletes_all_of_them(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """The control: the images above are kept by their references and by nothing else."""
    old = push_old_registry(pusher, registry.root)

    done = regsweep(*run_args(registry), env=clean_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert not any(revision_exists(registry.root, "app", m.digest) for m in old.manifests)


def test_a_failing_in_use_command_deletes_nothing(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    old = push_old_registry(pusher, registry.root)
    script = tmp_path / "kubectl.py"  # prints half a list, then loses its cluster
    script.write_text(
        f"import sys\nprint('{registry.host}/app:build-101')\n"
        "sys.exit('error: the server has asked for the client to provide credentials')\n"
    )
    before = tree_fingerprint(registry.root)

    done = regsweep(
        *run_args(registry, "--in-use-command", f"{sys.executable} {script}"),
        env=clean_env(tmp_path),
    )

    assert done.returncode == 2
    error = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(error) == 1 and "--in-use-command" in error[0] and "exit 1" in error[0]
    assert "provide credentials" in error[0] and "nothing was changed" in error[0]
    assert tree_fingerprint(registry.root) == before
    assert revision_exists(registry.root, "app", old.stale.digest)


def test_explain_names_the_reference_that_keeps_a_tag_and_an_index(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    old = push_old_registry(pusher, registry.root)
    in_use = tmp_path / "in-use.txt"
    in_use.write_text(references(registry, old))
    args = ["--registry-dir", str(registry.root), "--registry-host", registry.host]
    args += ["--in-use", str(in_use), "--exclude-tags", "^latest$"]

    text = regsweep("explain", "app:build-103", *args, env=clean_env(tmp_path))
    data = json.loads(
        regsweep(
            "explain", "app:build-103", *args, "--output", "json", env=clean_env(tmp_path)
        ).stdout
    )

    child = old.release.children[0].digest
    assert text.returncode == 0, text.stderr
    assert f"in use as {registry.host}/app@{child[:19]}" in text.stdout
    (tag,) = data["tags"]
    assert tag["decision"] == "keep"
    (rule,) = [r for r in tag["rules"] if r["keeps"]]
    assert rule["rule"] == "images in use (3 references)"
    assert rule["why"] == f"index of {child}, in use as {registry.host}/app@{child} (in-use.txt:4)"


def test_without_a_name_for_the_registry_the_list_is_refused(
    registry: RegistryServer, tmp_path: Path
) -> None:
    in_use = tmp_path / "in-use.txt"
    in_use.write_text(f"{registry.host}/app:build-101\n")

    done = regsweep_in_process(
        "plan",
        "--registry-dir",
        str(registry.root),
        "--in-use",
        str(in_use),
        env=clean_env(tmp_path),
    )

    assert done.returncode == 2
    assert "--registry-host" in done.stderr
