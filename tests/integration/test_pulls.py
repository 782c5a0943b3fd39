"""Last-pull retention end to end: the real registry sends its notifications to
``regsweep listen`` on loopback, skopeo pulls, and regsweep keeps exactly what was pulled."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import RegistryFactory
from tests.support.cli import clean_env, local_gc, regsweep, regsweep_json
from tests.support.images import Pusher
from tests.support.listener import (
    ListenerProcess,
    age_pull_store,
    notifications_to,
    recorded,
    wait_for,
)
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls, pulls
from tests.support.storage import set_manifest_time, set_push_time, tag_exists

DAY = 86400


@dataclass
class Setup:
    registry: RegistryServer
    listener: ListenerProcess
    db: Path
    env: dict[str, str]
    tmp: Path


@pytest.fixture
def setup(tmp_path: Path, registry_factory: RegistryFactory) -> Iterator[Setup]:
    """A listener, and a registry whose notifications go to it with the listener's token."""
    token = secrets.token_hex(16)
    token_file = tmp_path / "token"
    token_file.write_text(f"{token}\n")
    env = clean_env(tmp_path / "state")
    db = tmp_path / "pulls.sqlite"
    with ListenerProcess(db, token_file, env, tmp_path / "listen.log") as listener:
        listener.start()
        registry = registry_factory(notifications_to(listener.url, token))
        yield Setup(registry, listener, db, env, tmp_path)


def push_aged(setup: Setup, pusher: Pusher, repo: str, tag: str, days: float) -> str:
    image = pusher.push_image(repo, tag)
    when = time.time() - days * DAY
    set_push_time(setup.registry.root, repo, tag, when)
    set_manifest_time(setup.registry.root, repo, image.digest, when)
    return image.digest


def storage_flags(setup: Setup) -> list[str]:
    return ["--registry-dir", str(setup.registry.root), "--pulls-db", str(setup.db)]


def test_run_pulled_within_keeps_exactly_the_tags_pulled_and_deletes_the_others(
    setup: Setup,
) -> None:
    with Pusher(setup.registry.url) as pusher:
        for tag in ("build-1", "build-2", "build-3", "build-4"):
            push_aged(setup, pusher, "app", tag, 40)
        push_aged(setup, pusher, "app", "fresh", 1)
        push_aged(setup, pusher, "idle", "build-9", 40)
    for tag in ("build-1", "build-3"):  # a deployment still pulls these
        assert_pulls(setup.registry.host, "app", tag, setup.tmp / "pulls")
    wait_for(
        lambda: {("app", "build-1"), ("app", "build-3")} <= recorded(setup.db).keys(),
        what="the registry's pull events",
    )
    assert recorded(setup.db)[("app", "build-1")] == "notifications"

    # the store began seconds ago: it cannot tell "not pulled for 7 days", so nothing goes
    young = regsweep_json("plan", *storage_flags(setup), "--pulled-within", "7d", env=setup.env)
    assert [a["tag"] for a in young["actions"] if a["action"] == "untag"] == []
    assert young["pulls"]["known_since"] is not None

    age_pull_store(setup.db, timedelta(days=8))  # as if the listener had run for 8 days
    done = regsweep(
        "run",
        *storage_flags(setup),
        "--registry-url",
        setup.registry.url,
        "--pulled-within",
        "7d",
        *local_gc(setup.registry),
        env=setup.env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    setup.registry.restart()  # what --restart-command does

    root = setup.registry.root
    for tag in ("build-1", "build-3", "fresh"):
        assert_pulls(setup.registry.host, "app", tag, setup.tmp / "after")
    for repo, tag in (("app", "build-2"), ("app", "build-4"), ("idle", "build-9")):
        assert not tag_exists(root, repo, tag), f"{repo}:{tag} should be deleted"
        assert not pulls(setup.registry.host, repo, tag, setup.tmp / "gone")


def test_explain_du_and_plan_json_show_the_last_pull_and_where_it_came_from(
    setup: Setup,
) -> None:
    with Pusher(setup.registry.url) as pusher:
        push_aged(setup, pusher, "app", "build-1", 40)
        push_aged(setup, pusher, "app", "build-2", 40)
        push_aged(setup, pusher, "idle", "build-9", 40)
    assert_pulls(setup.registry.host, "app", "build-1", setup.tmp / "pulls")
    wait_for(lambda: ("app", "build-1") in recorded(setup.db), what="the pull event")
    age_pull_store(setup.db, timedelta(days=8))
    policy = ["--pulled-within", "7d", "--keep-most-recently-pulled", "1"]

    explained = regsweep_json(
        "explain", "app:build-1", *storage_flags(setup), *policy, env=setup.env
    )
    [tag] = explained["tags"]
    assert tag["decision"] == "keep"
    assert tag["last_pulled"]["by"] == "tag"
    assert tag["last_pulled"]["source"] == "notifications"
    assert tag["last_pulled"]["rules"] == ["pulled within 7d", "the 1 most recently pulled"]
    assert tag["last_pushed"]["rules"] == ["pushed within 30d", "push time unknown (always kept)"]
    text = regsweep("explain", "app:build-1", *storage_flags(setup), *policy, env=setup.env)
    assert re.search(
        r"last pull: \d+s ago, by tag \(notifications\) -> pulled within 7d, the 1 most",
        text.stdout,
    )
    assert "last push: 40d ago (push time) -> pushed within 30d" in text.stdout

    usage = regsweep_json("du", *storage_flags(setup), "--sort", "last-pull", env=setup.env)
    assert [r["repository"] for r in usage["repositories"]] == ["idle", "app"]
    assert "last_pulled" not in usage["repositories"][0]
    assert "last_pulled" in usage["repositories"][1]

    plan = regsweep_json("plan", *storage_flags(setup), *policy, env=setup.env)
    untagged = {(a["repository"], a["tag"]) for a in plan["actions"] if a["action"] == "untag"}
    assert untagged == {("app", "build-2"), ("idle", "build-9")}


def test_without_a_pull_store_the_plan_json_is_what_it_was(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    pusher.push_image("app", "build-1")
    set_push_time(registry.root, "app", "build-1", time.time() - 40 * DAY)
    env = clean_env(tmp_path / "state")  # no pull store in the state folder
    plan = regsweep_json("plan", "--registry-dir", str(registry.root), env=env)
    assert set(plan) == {
        "actions",
        "summary",
        "age_source",
        "skipped",
        "remove_empty_repositories",
        "left_empty",
    }
    [untag] = plan["actions"]
    assert set(untag) == {"action", "repository", "tag", "digest", "reason", "pushed_at", "wave"}
    refused = regsweep(
        "plan", "--registry-dir", str(registry.root), "--pulled-within", "7d", env=env
    )
    assert refused.returncode == 2
    assert "no pull store at" in refused.stderr and "(--pulls-db)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_api_mode_ages_a_tag_by_the_push_the_store_recorded_not_by_its_build_date(
    setup: Setup,
) -> None:
    with Pusher(setup.registry.url) as pusher:
        pusher.push_image("app", "rebuilt", created="2020-01-01T00:00:00Z")  # pushed just now
    wait_for(lambda: ("app", "rebuilt") in recorded(setup.db, "push"), what="the push event")
    api = ["--registry-url", setup.registry.url, "--pushed-within", "30d"]

    by_build = regsweep_json("plan", *api, env=setup.env)
    assert [a["tag"] for a in by_build["actions"] if a["action"] == "untag"] == ["rebuilt"]
    by_push = regsweep_json("plan", *api, "--pulls-db", str(setup.db), env=setup.env)
    assert by_push["actions"] == []
    assert "1 tag(s) aged by the last push the pull store recorded" in by_push["age_source"]
    explained = regsweep_json(
        "explain", "app:rebuilt", *api, "--pulls-db", str(setup.db), env=setup.env
    )
    assert explained["tags"][0]["last_pushed"]["source"] == (
        "the last push the pull store recorded (notifications)"
    )

    # regsweep's own reads of the manifests above were not pulls; skopeo's is
    assert_pulls(setup.registry.host, "app", "rebuilt", setup.tmp / "pulls")
    wait_for(lambda: ("app", "rebuilt") in recorded(setup.db), what="skopeo's pull")
    assert set(recorded(setup.db)) == {("app", "rebuilt")}
