"""``regsweep plan/run/verify --registry-url`` without storage: API mode through the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.cli import clean_env, regsweep, regsweep_json
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import revision_exists, tag_exists


def built(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_api_mode_ages_by_build_time_and_never_breaks_what_it_keeps(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    old = pusher.push_image("app", "feature-old", created=built(60))
    pusher.tag("app", "latest", old)  # shares its digest with a kept tag
    gone = pusher.push_image("app", "feature-gone", created=built(45))
    reproducible = pusher.push_image("app", "distroless", created="1970-01-01T00:00:00Z")
    fresh = pusher.push_image("app", "feature-new", created=built(2))
    amd = pusher.push_image("app", oci=True, created=built(50))
    arm = pusher.push_image("app", oci=True, created=built(50), platform=("linux", "arm64"))
    index = pusher.push_index("app", "pr-3", [amd, arm])
    env = clean_env(tmp_path)
    common = ["--registry-url", registry.url, "--untagged-grace", "0", "--exclude-tags", "^latest$"]

    plan = regsweep_json("plan", *common, env=env)
    assert "created" in plan["age_source"]
    untagged = {a["tag"] for a in plan["actions"] if a["action"] == "untag"}
    assert untagged == {"feature-old", "feature-gone", "pr-3"}

    done = regsweep("run", *common, "--journal", str(tmp_path / "j.jsonl"), env=env)
    assert done.returncode == 0, done.stderr

    for tag in ("latest", "distroless", "feature-new"):
        assert_pulls(registry.host, "app", tag, tmp_path / "pulls")
    assert not tag_exists(registry.root, "app", "feature-old")
    assert not tag_exists(registry.root, "app", "feature-gone")
    assert not tag_exists(registry.root, "app", "pr-3")
    for manifest in (gone, index, amd, arm):
        assert not revision_exists(registry.root, "app", manifest.digest)
    for manifest in (old, reproducible, fresh):
        assert revision_exists(registry.root, "app", manifest.digest)

    verified = regsweep("verify", "--registry-url", registry.url, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "3 tags" in verified.stdout


def test_api_mode_bad_url_is_a_usage_error_and_changes_nothing(tmp_path: Path) -> None:
    done = regsweep("plan", "--registry-url", "http://127.0.0.1:9", env=clean_env(tmp_path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
