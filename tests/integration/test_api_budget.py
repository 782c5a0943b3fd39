"""An API-mode run sends exactly the requests its budget states (regsweep.sources.api.budget).

Each figure below is the budget's floor worked out by hand for a small registry on the real
distribution 2.8.2: a request more (a manifest read twice, a re-check per wave instead of
per repository, a config read for a tag kept by name, a repository verified that the run
did not change, a blob checked when no collection could have removed one) fails the test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.cli import clean_env, regsweep, regsweep_json
from tests.support.images import PushedManifest, Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import blob_path, revision_exists, tag_exists


def built(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def kinds(counts: dict[str, Any]) -> dict[str, int]:
    """The non-zero request counts of one step, by kind."""
    figures = ("total", "retries", "seconds")
    return {kind: n for kind, n in counts.items() if n and kind not in figures}


def test_a_run_sends_the_requests_its_budget_states_and_not_one_more(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    # app: four builds 60..30 days old, latest on the newest (its config read once)
    builds = [
        pusher.push_image("app", f"build-{n}", created=built(70 - 10 * n)) for n in (1, 2, 3, 4)
    ]
    pusher.tag("app", "latest", builds[-1])
    # multi: an expired two-platform index (two waves of deletes), latest its own image
    children = [
        pusher.push_image("multi", created=built(50), platform=p)
        for p in [("linux", "amd64"), ("linux", "arm64")]
    ]
    index = pusher.push_index("multi", "pr-1", children)
    fresh = pusher.push_image("multi", "latest", created=built(1))
    # lib: nothing to delete
    pusher.push_image("lib", "latest", created=built(90))
    env = clean_env(tmp_path)
    policy = ["--exclude-tags", "^latest$", "--pushed-within", "35d"]

    result = regsweep_json(
        "run", "--registry-url", registry.url, *policy, "--force", "--journal",
        str(tmp_path / "journal.jsonl"), env=env,
    )  # fmt: skip

    requests = result["requests"]
    assert kinds(requests["discovery"]) == {
        "other": 1,  # GET /v2/
        "catalog": 1,
        "tags_list": 3,
        "manifest_get": 5 + 2 + 2 + 1,  # a GET per tag, and the index's two children
        # the configs of build-1..4 and of the index's children: none for the tags kept by
        # name (multi:latest, lib:latest), and app:latest's is build-4's, read once
        "blob_get": 4 + 2,
        "referrers": 1,  # 2.8 has no referrers API: asked once
    }
    assert kinds(requests["apply"]) == {
        "other": 2,  # GET /v2/, the untag method probe's upload
        "delete": 1 + 4 + 3 + 3,  # probe, untag method probe, app's three, multi's three
        "put": 3,  # untag method probe
        # one reading per repository, for every wave (multi's index, then its children)
        "tags_list": 2,
        "manifest_head": 5 + 2,
    }
    assert kinds(requests["verify"]) == {
        "other": 1,
        "tags_list": 2,  # app and multi: lib was not changed
        "manifest_head": 2 + 1,  # their kept tags, whose manifests were read while planning
        # no blob: no collection ran, and the API deleted no blob
    }
    assert result["apply"]["tags_deleted"] == 4
    assert result["apply"]["manifests_deleted"] == 6
    assert requests["total"]["total"] == sum(
        sum(kinds(requests[step]).values()) for step in ("discovery", "apply", "verify")
    )

    for repository, tag in [
        ("app", "latest"),
        ("app", "build-4"),
        ("multi", "latest"),
        ("lib", "latest"),
    ]:
        assert_pulls(registry.host, repository, tag, tmp_path / "pulls")
    for n in (1, 2, 3):
        assert not tag_exists(registry.root, "app", f"build-{n}")
    assert not tag_exists(registry.root, "multi", "pr-1")
    for gone in (index, *children):
        assert not revision_exists(registry.root, "multi", gone.digest)
    assert revision_exists(registry.root, "multi", fresh.digest)


def _expired_beside_latest(pusher: Pusher) -> PushedManifest:
    """app:feature-old expires under ``--pushed-within 30d``; app:latest, returned, stays."""
    pusher.push_image("app", "feature-old", created=built(60))
    return pusher.push_image("app", "latest", created=built(1))


def test_a_run_without_collection_says_it_did_not_check_blobs(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    _expired_beside_latest(pusher)
    env = clean_env(tmp_path)

    done = regsweep(
        "run", "--registry-url", registry.url, "--exclude-tags", "^latest$",
        "--pushed-within", "30d", "--force", "--output", "json", env=env,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "blob_head" not in kinds(json.loads(done.stdout)["requests"]["verify"])
    assert (
        "verified: all 1 tags in the 1 repositories this run changed resolve (blobs not "
        "checked: this run removed none; regsweep verify checks them)"
    ) in done.stderr


def test_a_run_with_a_collection_checks_blobs_and_finds_one_it_removed(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """A garbage collection is what removes blobs: after one, verification HEADs every blob
    the kept tags need. Here the collection also removes a kept image's config behind the
    run's back, as a wrong one would: the run must report the tag broken."""
    latest = _expired_beside_latest(pusher)
    assert latest.config is not None
    lost = blob_path(registry.root, latest.config.digest)
    collection = 'sh -c \'docker-registry garbage-collect "$1" && rm -- "$2"\' gc {config}'
    env = clean_env(tmp_path)

    done = regsweep(
        "run", "--registry-url", registry.url, "--exclude-tags", "^latest$",
        "--pushed-within", "30d", "--force", "--output", "json",
        "--gc-command", f"{collection} {lost}",
        "--docker-registry-config", str(registry.config_path), "--no-restart",
        env=env,
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert kinds(result["requests"]["verify"])["blob_head"] == 1 + len(latest.layers)
    (problem,) = result["verify"]["problems"]
    assert (problem["repository"], problem["tag"]) == ("app", "latest")
    assert latest.config.digest in problem["message"]
    assert f"broken: app:latest: blob {latest.config.digest}" in done.stderr


def test_ranking_by_age_reads_the_ages_of_tags_kept_by_name_too(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """keep-last ranks every tag: the age of one kept by name decides which others rank."""
    pusher.push_image("app", "latest", created=built(1))
    pusher.push_image("app", "feature-a", created=built(40))
    pusher.push_image("app", "feature-b", created=built(50))
    env = clean_env(tmp_path)
    common = ["--registry-url", registry.url, "--exclude-tags", "^latest$"]

    by_age = regsweep_json("plan", *common, "--pushed-within", "30d", env=env)
    ranked = regsweep_json("plan", *common, "--pushed-within", "0", "--keep-last", "2", env=env)

    assert by_age["requests"]["discovery"]["blob_get"] == 2
    assert ranked["requests"]["discovery"]["blob_get"] == 3
    untagged = {a["tag"] for a in ranked["actions"] if a["action"] == "untag"}
    assert untagged == {"feature-b"}  # latest is one of the two most recent


def test_applying_a_plan_file_reads_no_build_time_and_knows_the_registry_unchanged(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """The plan is decided: its apply re-discovers to count and re-check, never to age."""
    pusher.push_image("app", "latest", created=built(1))
    pusher.push_image("app", "feature-a", created=built(40))
    env = clean_env(tmp_path)
    url = ["--registry-url", registry.url]
    plan_file = tmp_path / "plan.json"
    regsweep_json("plan", *url, "--exclude-tags", "^latest$", "--out", str(plan_file), env=env)

    done = regsweep("apply", str(plan_file), *url, "--force", "--output", "json", env=env)

    assert done.returncode == 0, done.stderr
    assert "the registry is as it was when the plan was made" in done.stderr
    result = json.loads(done.stdout)
    assert result["requests"]["discovery"]["blob_get"] == 0
    assert result["apply"]["tags_deleted"] == 1
    assert_pulls(registry.host, "app", "latest", tmp_path / "pulls")
