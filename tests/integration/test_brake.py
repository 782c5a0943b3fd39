"""The safety brake as a cron job meets it, on the real registry: a first cleanup confirmed
once, normal runs after it, and each misconfiguration stopped (exit 2, nothing changed).

Time passing is played by moving every push time in the storage AND every time in the
registry's run history back by the same amount: to regsweep, that is exactly what a clock
that moved on looks like. A clock years ahead is the same move by years.
"""

from __future__ import annotations

import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from regsweep.plan.file import RegistryIdentity
from regsweep.state.history import default_history_path
from tests.support.cli import clean_env, regsweep
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.storage import V2, set_manifest_time, set_push_time, tag_exists, tree_fingerprint

DAY = 86400.0
Done = subprocess.CompletedProcess[str]
#: The cron line: the ``releases`` repository is out of every policy's scope.
CRON = ["--gc", "none", "--exclude-repositories", "^releases$"]
OLD_BRANCHES = [f"feature-{i}" for i in range(9)]
KEPT = ["1.0.0", "1.1.0", "latest"]
YOUNG = ["feature-young-1", "feature-young-2"]


@pytest.fixture
def cron(registry: RegistryServer, pusher: Pusher, tmp_path: Path) -> Cron:
    """14 tags in ``ci`` (9 old branches, 3 protected, 2 young), 3 old builds in
    ``releases``: the first cleanup deletes 9 of 17 tags, over the 50% limit."""
    now = time.time()
    for name, days in [*((t, 60) for t in OLD_BRANCHES + KEPT), *((t, 5) for t in YOUNG)]:
        image = pusher.push_image("ci", name)
        set_manifest_time(registry.root, "ci", image.digest, now - days * DAY)
        set_push_time(registry.root, "ci", name, now - days * DAY)
    for name in ("build-1", "build-2", "build-3"):
        image = pusher.push_image("releases", name)
        set_manifest_time(registry.root, "releases", image.digest, now - 60 * DAY)
        set_push_time(registry.root, "releases", name, now - 60 * DAY)
    return Cron(registry, pusher, clean_env(tmp_path))


class Cron:
    def __init__(self, registry: RegistryServer, pusher: Pusher, env: dict[str, str]) -> None:
        self.registry, self.pusher, self.env = registry, pusher, env
        name = default_history_path(RegistryIdentity(str(registry.root), None)).name
        self.history = Path(env["XDG_STATE_HOME"], "regsweep", "journals", name)

    def run(
        self, *flags: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return regsweep(
            "run",
            "--registry-dir",
            str(self.registry.root),
            *flags,
            env={**self.env, **(env or {})},
        )

    def travel(self, days: float) -> None:
        """Move every time in the storage and in the run history ``days`` into the past."""
        shift = days * DAY
        for folder, _, files in os.walk(self.registry.root / V2):
            for name in files:
                path = Path(folder, name)
                mtime = path.stat().st_mtime - shift
                os.utime(path, (mtime, mtime))
        with sqlite3.connect(self.history) as db:
            for run, at, seen in db.execute("SELECT id, at, seen_before FROM runs").fetchall():
                moved = [
                    (datetime.fromisoformat(t) - timedelta(days=days)).isoformat()
                    for t in (at, seen)
                ]
                db.execute("UPDATE runs SET at = ?, seen_before = ? WHERE id = ?", (*moved, run))

    def assert_stopped(self, done: Done, *expected: str) -> str:
        """Exit 2, one error line naming the way out, and the expected findings."""
        errors = [line for line in done.stderr.splitlines() if line.startswith("regsweep: error")]
        assert done.returncode == 2, done.stderr
        assert len(errors) == 1, done.stderr
        for text in expected:
            assert text in done.stderr, done.stderr
        return errors[0]


def _earlier(text: str, days: float) -> str:
    return (datetime.fromisoformat(text) - timedelta(days=days)).isoformat()


def _first_cleanup_then_a_normal_cron_run(cron: Cron) -> None:
    root = cron.registry.root
    before = tree_fingerprint(root)
    stopped = cron.run(*CRON)
    error = cron.assert_stopped(stopped, "would delete 9 of 17 tags (53%, limit 50%)")
    assert "first cleanup" in error and "--confirm-first-cleanup" in error
    assert tree_fingerprint(root) == before

    confirmed = cron.run(*CRON, "--confirm-first-cleanup")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "first cleanup of" in confirmed.stderr and "confirmed" in confirmed.stderr
    assert not any(tag_exists(root, "ci", t) for t in OLD_BRANCHES)

    # a month later: the young branches aged out, a new one was pushed two hours ago
    cron.travel(30)
    image = cron.pusher.push_image("ci", "feature-new")
    set_push_time(root, "ci", "feature-new", time.time() - 7200)
    set_manifest_time(root, "ci", image.digest, time.time() - 7200)
    # the flag left in the cron line changes nothing any more
    normal = cron.run(*CRON, "--confirm-first-cleanup")
    assert normal.returncode == 0, normal.stderr
    assert "--confirm-first-cleanup changes nothing" in normal.stderr
    assert not any(tag_exists(root, "ci", t) for t in YOUNG)
    assert all(tag_exists(root, "ci", t) for t in [*KEPT, "feature-new"])


def test_a_confirmed_first_cleanup_then_a_normal_cron_run(cron: Cron) -> None:
    _first_cleanup_then_a_normal_cron_run(cron)


MISCONFIGURED = {
    # "lastest": latest and every release are suddenly not protected
    "a mistyped keep regex": (["--exclude-tags", "^(lastest|main)$"], {}, "mistyped keep regex"),
    # feature-new, two hours old, would have been deleted by the last run already
    "MAX_AGE_SECONDS=30": ([], {"MAX_AGE_SECONDS": "30"}, "a shorter age"),
    # the exclusion forgotten: releases, never cleaned, loses the builds it had then
    "a policy scoped to the wrong repositories": (
        ["--exclude-repositories", "^nothing$"],
        {},
        "scoped to the wrong repositories",
    ),
}


@pytest.mark.parametrize(("flags", "env", "expected"), MISCONFIGURED.values(), ids=MISCONFIGURED)
def test_a_later_cron_run_out_of_line_with_the_history_is_stopped(
    cron: Cron, flags: list[str], env: dict[str, str], expected: str
) -> None:
    _first_cleanup_then_a_normal_cron_run(cron)
    before = tree_fingerprint(cron.registry.root)
    line = [*CRON[:2], *(flags or CRON[2:]), "--confirm-first-cleanup"]

    error = cron.assert_stopped(cron.run(*line, env=env), expected)

    assert "--force" in error and "nothing was deleted" in error
    assert tree_fingerprint(cron.registry.root) == before


def test_a_clock_years_ahead_is_stopped(cron: Cron) -> None:
    """Every tag looks three years older, feature-new too: 1 of 4 tags, far under the
    limit; the history knows that the last cleanup was yesterday, not years ago."""
    _first_cleanup_then_a_normal_cron_run(cron)
    cron.travel(3 * 365)
    before = tree_fingerprint(cron.registry.root)

    error = cron.assert_stopped(cron.run(*CRON), "the last cleanup was", "check the clock")

    assert "--force" in error
    assert tree_fingerprint(cron.registry.root) == before


def test_at_a_terminal_the_first_cleanup_is_asked_for_once(cron: Cron) -> None:
    """In a terminal the brake asks; yes lets the first cleanup through, and the brake
    judges the next runs by the history it started."""
    answered = _in_a_terminal(cron, [*CRON], answer="y")
    assert "This is the first cleanup of" in answered[0] and answered[1] == 0, answered[0]
    assert not any(tag_exists(cron.registry.root, "ci", t) for t in OLD_BRANCHES)
    stopped = cron.run("--gc", "none", "--exclude-tags", "^(lastest|main)$")
    cron.assert_stopped(stopped, "mistyped keep regex")


def test_at_a_terminal_no_is_a_refusal(cron: Cron) -> None:
    before = tree_fingerprint(cron.registry.root)
    output, code = _in_a_terminal(cron, [*CRON], answer="n")
    assert code == 2 and "nothing was deleted" in output
    assert tree_fingerprint(cron.registry.root) == before


def _in_a_terminal(cron: Cron, flags: list[str], *, answer: str) -> tuple[str, int]:
    """Run regsweep with a pseudo-terminal as its input and error output; answer the first
    question it asks."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "regsweep",
            "run",
            "--registry-dir",
            str(cron.registry.root),
            *flags,
        ],
        stdin=follower,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=cron.env,
    )
    os.close(follower)
    seen, asked = b"", False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the process closed the terminal
                break
            seen += chunk
            if not asked and b"Delete them?" in seen:
                os.write(leader, f"{answer}\n".encode())
                asked = True
        elif process.poll() is not None:
            break
    code = process.wait(timeout=60)
    os.close(leader)
    return seen.decode(errors="replace"), code
