"""Trial: every kind of damage, what the registry's GC alone does, and what regsweep does.

    .venv/bin/python -m benchmarks.trial_damage

Six repositories on the real registry (distribution 2.8.2), each with a release and
``latest`` (kept), an expired branch build and an old untagged manifest; one of them is
damaged the way years of operation damage storage (tests/support/damage.py). For each kind,
on a fresh copy each time:

- ``registry GC alone``: ``docker-registry garbage-collect`` on the damaged tree, as the
  seed's cron did after deleting by hand (nothing is untagged: only garbage could go);
- ``run --gc registry`` and ``run --gc native``: ``regsweep run`` with the default policy.

Printed per kind and way: the exit status, how many of the five healthy repositories were
cleaned (expired tag and old manifests gone), the blobs freed, and the kept tags that still
pull with skopeo (``--all``) out of those the damage itself left pullable.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import clean_env, local_gc, regsweep
from tests.support.damage import KINDS, Injected
from tests.support.images import PushedManifest, Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import pulls
from tests.support.storage import (
    blob_digests,
    revision_exists,
    set_manifest_time,
    set_push_time,
    tag_exists,
)

DAY = 86400.0
DAMAGED = "damaged"
REPOSITORIES = ("web", "api", "worker", "tools/ci", "team/app", DAMAGED)
KEPT = ("1.0.0", "latest")
EXPIRED = "feature-old"
WAYS = ("registry GC alone", "run --gc registry", "run --gc native")


@dataclass(frozen=True)
class Outcome:
    exit: int
    cleaned: int
    freed: int
    pulling: int
    pullable: int


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="trial-damage-") as scratch:
        work = Path(scratch)
        template, expired = build_template(work / "template")
        print(f"{'damage':<22} {'way':<19} {'exit':>4} {'cleaned':>8} {'freed':>6} {'pulling':>8}")
        for kind in KINDS:
            for number, way in enumerate(WAYS):
                outcome = trial(template, expired, kind, way, work / f"{kind}-{number}")
                pulling = f"{outcome.pulling}/{outcome.pullable}"
                print(
                    f"{kind:<22} {way:<19} {outcome.exit:>4} {outcome.cleaned:>6}/5 "
                    f"{outcome.freed:>6} {pulling:>8}",
                    flush=True,
                )
    return 0


def build_template(folder: Path) -> tuple[Path, dict[str, PushedManifest]]:
    """The six repositories, aged: the expired image of each, by repository."""
    old = time.time() - 60 * DAY
    expired: dict[str, PushedManifest] = {}
    with RegistryServer.create(folder) as server, Pusher(server.url) as pusher:
        base = os.urandom(2048)
        for name in REPOSITORIES:
            release = pusher.push_image(name, KEPT[0], layers=[base, os.urandom(1024)])
            pusher.tag(name, KEPT[1], release)
            expired[name] = pusher.push_image(name, EXPIRED)
            untagged = pusher.push_image(name)
            for image in (release, expired[name], untagged):
                set_manifest_time(server.root, name, image.digest, old)
            for tag in (*KEPT, EXPIRED):
                set_push_time(server.root, name, tag, old)
        return server.root, expired


def trial(
    template: Path, expired: dict[str, PushedManifest], kind: str, way: str, folder: Path
) -> Outcome:
    registry = RegistryServer.create(folder)
    shutil.copytree(template, registry.root, symlinks=True, dirs_exist_ok=True)
    layer = expired[DAMAGED].layers[0].digest
    injected = registry.damage(DAMAGED, kind, layer=layer)
    assert injected is not None, kind
    before = blob_digests(registry.root)
    if way == "registry GC alone":
        code = registry.garbage_collect(check=False).returncode
        registry.start()
    else:
        registry.start()
        collector = local_gc(registry) if "registry" in way else ["--gc", "native", "--no-restart"]
        code = regsweep(
            "run",
            "--registry-dir",
            str(registry.root),
            *collector,
            env={**clean_env(folder), "GC_OFFLINE": "true"},
        ).returncode
    try:
        return Outcome(
            exit=code,
            cleaned=sum(
                1 for name in REPOSITORIES if name != DAMAGED and _cleaned(registry, name, expired)
            ),
            freed=len(before - blob_digests(registry.root)),
            pulling=_pulling(registry, injected, folder),
            pullable=sum(
                1 for name in REPOSITORIES for tag in KEPT if f"{name}:{tag}" not in injected.broken
            ),
        )
    finally:
        registry.stop()


def _cleaned(registry: RegistryServer, name: str, expired: dict[str, PushedManifest]) -> bool:
    root = registry.root
    return not tag_exists(root, name, EXPIRED) and not revision_exists(
        root, name, expired[name].digest
    )


def _pulling(registry: RegistryServer, injected: Injected, folder: Path) -> int:
    return sum(
        1
        for name in REPOSITORIES
        for tag in KEPT
        if f"{name}:{tag}" not in injected.broken
        and pulls(registry.host, name, tag, folder / "pulls")
    )


if __name__ == "__main__":
    sys.exit(main())
