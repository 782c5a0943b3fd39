"""API mode end to end on the real registry: discover, plan, apply, then pull what is kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.apply.api import check_registry
from regsweep.apply.outcome import Outcome
from regsweep.apply.registry_api import ApiApplier, apply_over_api
from regsweep.apply.runner import ApplyReport, apply_actions
from regsweep.apply.untag import Untagger, UntagMethod
from regsweep.cli.settings import load_settings
from regsweep.plan.file import RegistryIdentity
from regsweep.plan.planner import ActionKind, Plan, build_plan
from regsweep.policy.rules import Policy
from regsweep.sources.api.auth import Credentials, RegistryAuth
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.discovery import discover_api
from regsweep.sources.api.errors import (
    DeleteDisabledError,
    RegistryAuthError,
    RegistryUnreachableError,
)
from regsweep.sources.api.open import RegistryAccess, discover_registry
from regsweep.state.journal import Journal
from tests.conftest import RegistryFactory
from tests.support import storage
from tests.support.auth_servers import StaticBearer, TokenIssuer, htpasswd_auth
from tests.support.images import Pusher
from tests.support.registry import RegistryServer, free_port
from tests.support.skopeo import assert_pulls

NOW = datetime.now(UTC)
OLD = (NOW - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_and_apply(url: str, auth: object = None) -> tuple[Plan, ApplyReport]:
    async def main() -> tuple[Plan, ApplyReport]:
        async with RegistryClient(url, auth=auth) as client:  # type: ignore[arg-type]
            await client.ping()
            inventory = await discover_api(client)
            plan = build_plan(inventory, Policy(), datetime.now(UTC))
            applier = ApiApplier(client, Untagger(client), plan, inventory.manifests)
            with Journal(None, RegistryIdentity(None, url)) as journal:
                report = await apply_actions(plan.actions, applier, concurrency=4, journal=journal)
            return plan, report

    return asyncio.run(main())


def test_api_mode_spares_siblings_multi_arch_and_unknown_ages(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    shared = pusher.push_image("app", "build-1", created=OLD)
    pusher.tag("app", "latest", shared)
    alone = pusher.push_image("app", "build-2", created=OLD)
    amd = pusher.push_image("multi", created=OLD)
    arm = pusher.push_image("multi", created=OLD, platform=("linux", "arm64"))
    s390 = pusher.push_image("multi", created=OLD, platform=("linux", "s390x"))
    kept_index = pusher.push_index("multi", "stable", [amd, arm])
    pusher.tag("multi", "build-3", kept_index)
    old_index = pusher.push_index("multi", "build-4", [arm, s390])
    reproducible = pusher.push_image("repro", "build-5", created="1970-01-01T00:00:00Z")

    plan, report = plan_and_apply(registry.url)

    assert report.ok, report.to_json()
    untagged = {(a.repository, a.tag) for a in plan.untags}
    assert untagged == {
        ("app", "build-1"),
        ("app", "build-2"),
        ("multi", "build-3"),
        ("multi", "build-4"),
    }
    deleted = {(a.repository, a.digest) for a in plan.manifest_deletes}
    assert deleted == {
        ("app", alone.digest),
        ("multi", old_index.digest),
        ("multi", s390.digest),
    }
    root = registry.root
    for repo, tag in untagged:
        assert not storage.tag_exists(root, repo, tag), (repo, tag)
    for repo, digest in deleted:
        assert not storage.revision_exists(root, repo, digest)
    for repo, digest in [("app", shared.digest), ("multi", amd.digest), ("multi", arm.digest)]:
        assert storage.revision_exists(root, repo, digest)
    assert storage.tag_exists(root, "repro", "build-5")
    assert storage.revision_exists(root, "repro", reproducible.digest)
    assert_pulls(registry.host, "app", "latest", tmp_path)
    assert_pulls(registry.host, "multi", "stable", tmp_path)
    assert_pulls(registry.host, "repro", "build-5", tmp_path)
    kept = {d.tag.name: d for d in plan.decisions if d.keep}
    assert "build time unknown" in kept["build-5"].reason  # the API has build times


def test_a_tag_pointing_at_a_doomed_manifest_since_planning_saves_it(
    registry: RegistryServer, pusher: Pusher
) -> None:
    old = pusher.push_image("app", "build-1", created=OLD)

    async def main() -> ApplyReport:
        async with RegistryClient(registry.url) as client:
            inventory = await discover_api(client)
            plan = build_plan(inventory, Policy(), datetime.now(UTC))
            assert [a.digest for a in plan.manifest_deletes] == [old.digest]
            pusher.tag("app", "release-candidate", old)  # pushed between plan and apply
            applier = ApiApplier(client, Untagger(client), plan, inventory.manifests)
            with Journal(None, RegistryIdentity(None, registry.url)) as journal:
                return await apply_actions(plan.actions, applier, concurrency=2, journal=journal)

    report = asyncio.run(main())
    skipped = [r for r in report.results if r.outcome is Outcome.SKIPPED]
    assert [r.action.kind for r in skipped] == [ActionKind.DELETE_MANIFEST]
    assert "release-candidate points to it now" in skipped[0].detail
    assert storage.tag_exists(registry.root, "app", "release-candidate")
    assert storage.revision_exists(registry.root, "app", old.digest)


def test_a_refused_delete_stops_the_run_and_reports_the_rest(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    """The token grants pull and push but not delete: the registry answers 401."""
    with TokenIssuer(tmp_path / "issuer", {"ci": "pw"}, denied={"delete"}).serving() as issuer:
        server = registry_factory(issuer.registry_config())
        with Pusher(server.url, auth=StaticBearer(issuer.admin_token("a", "b"))) as pusher:
            for repo in ("a", "b"):
                for n in range(3):
                    pusher.push_image(repo, f"build-{n}", created=OLD)
        plan, report = plan_and_apply(server.url, RegistryAuth(Credentials("ci", "pw")))
    assert not report.ok
    failed = report.failed
    assert failed and "401" in failed[0].detail
    outcomes = {r.outcome for r in report.results}
    assert Outcome.NOT_ATTEMPTED in outcomes
    assert len(report.results) == len(plan.actions)
    for repo in ("a", "b"):
        for n in range(3):
            assert storage.tag_exists(server.root, repo, f"build-{n}")


def settings_for(url: str, **flags: object) -> RegistryAccess:
    """The registry access that the settings (flags, then environment) give."""
    access = load_settings({"registry_url": url, **flags}).registry_access()
    assert access is not None
    return access


def test_settings_with_env_credentials_drive_discovery_and_apply(
    registry_factory: RegistryFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = registry_factory(htpasswd_auth(tmp_path / "htpasswd", "ci", "s3cret-pw"))
    with Pusher(server.url, auth=("ci", "s3cret-pw")) as pusher:
        image = pusher.push_image("app", "build-1", created=OLD)
        pusher.tag("app", "latest", image)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no Docker login to fall back on

    with pytest.raises(RegistryAuthError, match="requires authentication"):
        asyncio.run(discover_registry(settings_for(server.url)))
    wrong = settings_for(server.url, registry_username="ci", registry_password="nope")
    with pytest.raises(RegistryAuthError, match="refused"):
        asyncio.run(discover_registry(wrong))

    monkeypatch.setenv("REGISTRY_USERNAME", "ci")
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret-pw")
    settings = settings_for(server.url, untag_method="throwaway")
    assert "s3cret-pw" not in repr(settings)
    inventory = asyncio.run(discover_registry(settings))
    plan = build_plan(inventory, Policy(), datetime.now(UTC))
    with Journal(tmp_path / "journal.jsonl", RegistryIdentity(None, server.url)) as journal:
        report = asyncio.run(
            apply_over_api(
                settings,
                plan,
                inventory.manifests,
                untag_method=UntagMethod.THROWAWAY,
                concurrency=8,
                journal=journal,
            )
        )
    assert report.ok
    assert not storage.tag_exists(server.root, "app", "build-1")
    assert_pulls(server.host, "app", "latest", tmp_path, creds=("ci", "s3cret-pw"))
    journal_text = (tmp_path / "journal.jsonl").read_text()
    assert "untag" in journal_text and "s3cret-pw" not in journal_text


def test_deletes_disabled_stop_before_any_change(registry_factory: RegistryFactory) -> None:
    server = registry_factory({"storage": {"delete": {"enabled": False}}})
    with Pusher(server.url) as pusher:
        image = pusher.push_image("app", "build-1", created=OLD)
        pusher.tag("app", "latest", image)
        pusher.push_image("app", "build-2", created=OLD)
    settings = settings_for(server.url)
    inventory = asyncio.run(discover_registry(settings))
    plan = build_plan(inventory, Policy(), datetime.now(UTC))
    assert plan.actions
    before = storage.tree_fingerprint(server.root)
    with pytest.raises(DeleteDisabledError, match="enabled: true"):
        asyncio.run(check_registry(settings, plan, api_mode=True))
    assert storage.tree_fingerprint(server.root) == before


def test_unreachable_url_is_a_usage_error() -> None:
    settings = settings_for(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RegistryUnreachableError) as caught:
        asyncio.run(discover_registry(settings))
    assert caught.value.exit_code == 2
