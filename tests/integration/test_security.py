"""Security: credentials never leave regsweep, files it writes are private, no shell runs.

A whole ``regsweep -vv run`` against a registry with htpasswd auth, in storage mode and in
API mode, with ``--output json`` and a journal: the password and its basic-auth form must
appear in none of stdout, stderr (debug logs of every library included), the journal, a
plan file. Files are checked under ``umask 000``, so a permission regsweep did not choose
itself shows. Values that reach a command line (the GC and restart templates) are passed
as arguments, never through a shell, whatever they hold.
"""

from __future__ import annotations

import ast
import base64
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RegistryFactory
from tests.support.auth_servers import htpasswd_auth
from tests.support.cli import clean_env, regsweep
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import set_manifest_time, set_push_time, tag_exists

REPO_ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "deployer", "Tr0ub4dor&3-pa55"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
OLD = time.time() - 90 * 86400
OLD_BUILD = "2020-03-01T00:00:00Z"


@pytest.fixture
def locked_registry(registry_factory: RegistryFactory, tmp_path: Path) -> RegistryServer:
    """A registry behind htpasswd basic auth, with expired tags to delete."""
    server = registry_factory(htpasswd_auth(tmp_path / "htpasswd", USER, PASSWORD))
    with Pusher(server.url, auth=(USER, PASSWORD)) as pusher:
        pusher.push_image("app", "latest")
        for tag in ("feature-a", "feature-b"):
            image = pusher.push_image("app", tag, created=OLD_BUILD)
            set_push_time(server.root, "app", tag, OLD)
            set_manifest_time(server.root, "app", image.digest, OLD)
    return server


def run_umask0(
    args: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``python -m regsweep ARGS`` under umask 000: every permission bit is regsweep's own."""
    return regsweep(*args, env=env, stdin=stdin, umask=0)


def assert_no_secret(where: str, text: str) -> None:
    for secret in (PASSWORD, BASIC, PASSWORD.replace("&", "%26")):
        assert secret not in text, f"the password is in {where}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("api_mode", [False, True], ids=["storage", "api"])
def test_a_verbose_run_with_credentials_never_shows_them_and_writes_private_files(
    locked_registry: RegistryServer, tmp_path: Path, api_mode: bool
) -> None:
    server = locked_registry
    state = tmp_path / "state"
    env = clean_env(state)
    journal = tmp_path / "out" / "journal.jsonl"
    plan = tmp_path / "out" / "plan.json"
    plan.parent.mkdir()
    where = ["--registry-url", server.url]
    collect: list[str] = []
    if not api_mode:
        where += ["--registry-dir", str(server.root)]
        collect = ["--gc", "none"]
        env.update(REGISTRY_USERNAME=USER, REGISTRY_PASSWORD=PASSWORD)  # the seed's way
        login: list[str] = []
        stdin = ""
    else:
        login, stdin = ["--username", USER, "--password-stdin"], PASSWORD + "\n"

    planned = run_umask0(["-vv", "plan", *where, *login, "--out", str(plan)], env, stdin)
    assert planned.returncode == 0, planned.stderr
    run = run_umask0(
        [
            "-vv",
            "run",
            *where,
            *login,
            *collect,
            "--force",
            "--output=json",
            f"--journal={journal}",
        ],
        env,
        stdin,
    )
    assert run.returncode == 0, run.stderr

    assert "DEBUG" in run.stderr  # -vv did log at debug level
    assert not tag_exists(server.root, "app", "feature-a")  # the run did its job
    assert_pulls(server.host, "app", "latest", tmp_path / "pulls", creds=(USER, PASSWORD))
    outputs = {
        "plan stdout": planned.stdout,
        "plan stderr": planned.stderr,
        "run stdout": run.stdout,
        "run stderr": run.stderr,
        "journal": journal.read_text(),
        "plan file": plan.read_text(),
    }
    for name, text in outputs.items():
        assert_no_secret(name, text)
    for written in [*state.rglob("*"), *(tmp_path / "out").rglob("*")]:
        # the run history is SQLite: its bytes are searched as text all the same
        text = written.read_bytes().decode(errors="replace") if written.is_file() else ""
        assert_no_secret(str(written), text)
        if written.name.endswith(".history.sqlite"):
            assert mode(written) == 0o600
    assert mode(journal) == 0o600 and mode(plan) == 0o600
    assert mode(journal.parent) & 0o022 == 0
    if api_mode:  # the run's lock was in the state folder, which is the user's alone
        assert mode(state / "regsweep") == 0o700
    else:
        assert not (server.root / "regsweep").exists()  # the lock is gone with the run


def test_the_lock_and_the_quarantine_are_never_writable_by_others(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """Under umask 000: a world-writable lock or quarantine would let any local user block
    every run, or put bytes of their own where the collector restores blobs from."""
    dropped = pusher.push_image("app", "dropped")
    pusher.push_image("app", "kept")
    pusher.delete_manifest("app", dropped.digest)
    env = clean_env(tmp_path)
    gc = run_umask0(
        ["gc", "--registry-dir", str(registry.root), "--grace", "0", "--no-restart"], env
    )
    assert gc.returncode == 0, gc.stderr
    area = registry.root / "regsweep"
    quarantined = [area, *area.rglob("*")]
    assert len(quarantined) > 4  # the swept blobs are there
    for path in quarantined:
        assert mode(path) & 0o022 == 0, f"{path} is {oct(mode(path))}"


SHELL_TRAPS = [
    "$(touch {pwned})",
    "`touch {pwned}`",
    "; touch {pwned}",
    "| touch {pwned}",
    "&& touch {pwned} #",
]


@pytest.mark.parametrize("trap", SHELL_TRAPS)
def test_values_in_the_gc_and_restart_commands_never_reach_a_shell(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path, trap: str
) -> None:
    """The config path and the container name are substituted into argument words: a value
    full of shell syntax arrives intact as one argument and runs nothing. (The command
    runs on this host, so its config is read first: a real file, named with the trap.)"""
    pusher.push_image("app", "latest")
    dropped = pusher.push_image("app", "feature-x")
    set_push_time(registry.root, "app", "feature-x", OLD)
    set_manifest_time(registry.root, "app", dropped.digest, OLD)
    pwned = tmp_path / "pwned"
    value = trap.format(pwned=pwned)
    config = tmp_path / f"config {value}.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_bytes(registry.config_path.read_bytes())
    seen = tmp_path / "argv"
    recorder = (
        f'{sys.executable} -c "import sys, pathlib; '
        f"pathlib.Path('{seen}').open('a').write(repr(sys.argv[1:]) + '\\n'); "
        "print('1 blobs marked, 1 blobs and 0 manifests eligible for deletion')\""
    )
    done = regsweep(
        "run",
        "--registry-dir",
        str(registry.root),
        "--force",
        "--gc-command",
        f"{recorder} gc {{config}} {{name}}",
        "--restart-command",
        f"{recorder} restart {{name}}",
        "--docker-registry-config",
        str(config),
        "--docker-registry-name",
        value,
        env=clean_env(tmp_path),
    )

    assert done.returncode == 0, done.stderr
    assert not pwned.exists()
    assert seen.read_text().splitlines() == [
        repr(["gc", str(config), value]),
        repr(["restart", value]),  # the GC "deleted" a blob, so the registry is restarted
    ]


def test_no_source_file_runs_a_shell() -> None:
    """Every command regsweep runs is an argument list: no ``shell=True``, ``os.system``,
    ``os.popen`` or ``create_subprocess_shell`` anywhere in the package."""
    found = []
    for path in sorted((REPO_ROOT / "src" / "regsweep").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            shell = any(
                k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                for k in node.keywords
            )
            if shell or name in ("os.system", "os.popen") or name.endswith("subprocess_shell"):
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {name}")
    assert found == []
