"""skopeo as the reference client: an image counts as intact only if skopeo pulls every platform.

skopeo runs in an isolated environment (its own HOME, XDG dirs, auth file, trust policy,
registries.conf and registries.d), so nothing from the user's container config changes a result.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SKOPEO = "skopeo"


def image_reference(host: str, repo: str, ref: str) -> str:
    """``docker://HOST/REPO:TAG``, or ``@DIGEST`` when ``ref`` is a digest."""
    separator = "@" if ":" in ref else ":"
    return f"docker://{host}/{repo}{separator}{ref}"


@contextmanager
def _isolated() -> Iterator[tuple[list[str], dict[str, str]]]:
    """The start of a skopeo command line and the throw-away environment to run it in."""
    with tempfile.TemporaryDirectory(prefix="skopeo-env-") as scratch:
        home = Path(scratch)
        auth_file = home / "auth.json"
        auth_file.write_text(json.dumps({"auths": {}}))
        policy = home / "policy.json"
        policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        registries_conf = home / "registries.conf"
        registries_conf.write_text("")
        registries_d = home / "registries.d"
        work = home / "tmp"
        for folder in (registries_d, work, home / "config", home / "data", home / "cache"):
            folder.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_RUNTIME_DIR": str(home),
            "TMPDIR": str(work),
            "REGISTRY_AUTH_FILE": str(auth_file),
            "CONTAINERS_REGISTRIES_CONF": str(registries_conf),
        }
        prefix = [SKOPEO, "--policy", str(policy), "--registries.d", str(registries_d)]
        yield [*prefix, "--tmpdir", str(work)], env


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def pull_all(
    host: str,
    repo: str,
    ref: str,
    dest_dir: Path,
    *,
    creds: tuple[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """``skopeo copy --all`` the tag or digest ``ref`` into ``dir:dest_dir``; never raises on a
    failed pull (see ``returncode`` and ``stderr``), only on timeout."""
    with _isolated() as (skopeo, env):
        cmd = [*skopeo, "copy", "--all", "--src-tls-verify=false"]
        if creds is not None:
            cmd += ["--src-creds", f"{creds[0]}:{creds[1]}"]
        cmd += [image_reference(host, repo, ref), f"dir:{dest_dir}"]
        return _run(cmd, env, timeout)


def copy_within(host: str, repo: str, ref: str, tag: str, *, timeout: float = 120.0) -> None:
    """``skopeo copy --all docker://HOST/REPO:REF docker://HOST/REPO:TAG``: a re-push of
    ``tag`` as a client does it (``ref`` may be ``tag`` itself); AssertionError if it fails."""
    with _isolated() as (skopeo, env):
        done = _run(
            [
                *skopeo,
                "copy",
                "--all",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                image_reference(host, repo, ref),
                image_reference(host, repo, tag),
            ],
            env,
            timeout,
        )
    if done.returncode != 0:
        raise AssertionError(
            f"skopeo could not copy {host}/{repo} {ref} to {tag} (exit {done.returncode}):\n"
            f"{done.stderr.strip()}"
        )


def assert_pulls(
    host: str,
    repo: str,
    ref: str,
    tmp: Path,
    *,
    creds: tuple[str, str] | None = None,
) -> Path:
    """Pull every platform of ``ref`` into a fresh folder under ``tmp`` and return that folder;
    AssertionError with skopeo's stderr if it fails."""
    tmp.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="pull-", dir=tmp)) / "image"
    result = pull_all(host, repo, ref, dest, creds=creds)
    if result.returncode != 0:
        raise AssertionError(
            f"skopeo could not pull {host}/{repo} {ref} (exit {result.returncode}):\n"
            f"{result.stderr.strip()}"
        )
    return dest


def pulls(
    host: str,
    repo: str,
    ref: str,
    tmp: Path,
    *,
    creds: tuple[str, str] | None = None,
) -> bool:
    """True when skopeo pulls every platform of ``ref``."""
    try:
        assert_pulls(host, repo, ref, tmp, creds=creds)
    except AssertionError:
        return False
    return True
