"""The README's first command: regsweep's main job on a sandbox registry it starts itself.

A real registry (distribution 2.8.2) serves on 127.0.0.1 with feature-branch tags weeks old,
release tags, ``latest``, and multi-arch images. regsweep runs exactly as the seed script
was configured, through its environment variables: first the dry run, then the real run
(untag, delete unreferenced manifests, garbage-collect, restart, verify). Finally skopeo
pulls every kept tag with every platform, and the registry is stopped.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.cli import clean_env  # noqa: E402
from tests.support.fake_docker import fake_docker_env, install_fake_docker  # noqa: E402
from tests.support.images import Pusher  # noqa: E402
from tests.support.registry import RegistryServer  # noqa: E402
from tests.support.scenario import build_scenario  # noqa: E402
from tests.support.skopeo import pulls  # noqa: E402
from tests.support.storage import tag_exists  # noqa: E402


def banner(text: str) -> None:
    print(f"\n\033[1m=== {text}\033[0m", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="regsweep-demo-") as tmp_dir:
        tmp = Path(tmp_dir)
        registry = RegistryServer.create(tmp / "registry")
        registry.start()
        try:
            return demo(registry, tmp)
        finally:
            registry.stop()
            print(f"\nsandbox registry on {registry.host} stopped", flush=True)


def demo(registry: RegistryServer, tmp: Path) -> int:
    banner(f"sandbox registry on {registry.url}, storage in {registry.root}")
    with Pusher(registry.url) as pusher:
        scenario = build_scenario(pusher, registry.root)
    print(
        f"pushed {len(scenario.kept_tags) + len(scenario.deleted_tags)} tags in 3 repositories "
        "(releases, branches, feature builds 3-100 days old, two multi-arch images)"
    )
    install_fake_docker(tmp / "bin", REPO)
    env = clean_env(tmp, fake_docker_env(tmp / "bin", registry.tmp_dir, registry.url))
    settings = {
        "REGISTRY_URL": registry.url,
        "REGISTRY_DIR": str(registry.root),
        "MAX_AGE_SECONDS": str(30 * 86400),
        "DOCKER_REGISTRY_NAME": "registry",
        "DOCKER_REGISTRY_CONFIG": str(registry.config_path),
    }
    env.update(settings)
    print("\nthe seed's settings:")
    for key, value in settings.items():
        print(f"  {key}={value}")
    print(
        "  (no Docker engine on this machine: a stand-in `docker` first on PATH runs the real "
        "`docker-registry garbage-collect` and restarts the sandbox registry)"
    )

    banner("DRY_RUN=true regsweep run   # shows exactly what would go, changes nothing")
    dry = subprocess.run([sys.executable, "-m", "regsweep", "run"], env={**env, "DRY_RUN": "true"})
    if dry.returncode != 0:
        return dry.returncode

    banner("regsweep run")
    real = subprocess.run([sys.executable, "-m", "regsweep", "run"], env=env)
    if real.returncode != 0:
        return real.returncode

    banner("skopeo copy --all: every kept tag, every platform")
    failures = 0
    for repo, tag in sorted(scenario.kept_tags):
        ok = pulls(registry.host, repo, tag, tmp / "pulls")
        failures += not ok
        print(f"  {'pulls ' if ok else 'BROKEN'}  {repo}:{tag}")
    for repo, tag in sorted(scenario.deleted_tags):
        gone = not tag_exists(registry.root, repo, tag)
        failures += not gone
        print(f"  {'gone  ' if gone else 'STILL '}  {repo}:{tag}")
    print("\nall kept tags pull; every expired tag is gone" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
