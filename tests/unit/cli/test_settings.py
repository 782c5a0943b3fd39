"""Settings: each declared once, and everything derived from that declaration agrees."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
import pytest

from regsweep.cli.main import COMMANDS, cli
from regsweep.cli.memory import default_memory_limit
from regsweep.cli.settings import (
    FLAT_POLICY,
    OWN_ENV_NAMES,
    Group,
    Settings,
    env_names,
    load_settings,
)
from regsweep.collect.options import Collector, NativeMode
from regsweep.collect.registry import MissingSettingError
from regsweep.core.errors import UsageError
from regsweep.pipeline.target import TargetSpec


def command(name: str) -> click.Command:
    """A command by name; ``"pulls import"`` is a subcommand of a group."""
    first, _, sub = name.partition(" ")
    found = cli.get_command(click.Context(cli), first)
    if sub:
        assert isinstance(found, click.Group)
        found = found.get_command(click.Context(found), sub)
    assert found is not None
    return found


def flags_of(name: str) -> set[str]:
    return {flag for p in command(name).params for flag in (*p.opts, *p.secondary_opts)}


@pytest.fixture(autouse=True)
def no_seed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAX_AGE_SECONDS", "EXCLUDE_TAGS", "DRY_RUN", "REGISTRY_DIR", "REGISTRY_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_seed_names_and_the_new_name_all_set_pushed_within(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings({}).pushed_within == timedelta(days=30)
    monkeypatch.setenv("MAX_AGE_SECONDS", "3600")
    assert load_settings({}).pushed_within == timedelta(hours=1)
    monkeypatch.delenv("MAX_AGE_SECONDS")
    monkeypatch.setenv("PUSHED_WITHIN", "2d")
    assert load_settings({}).pushed_within == timedelta(days=2)
    config = tmp_path / "regsweep.yaml"
    config.write_text("max_age: 5d\n")
    monkeypatch.delenv("PUSHED_WITHIN")
    assert load_settings({}, config).pushed_within == timedelta(days=5)
    # a flag wins over the environment, which wins over the file
    monkeypatch.setenv("MAX_AGE_SECONDS", "60")
    assert load_settings({}, config).pushed_within == timedelta(minutes=1)
    assert load_settings({"pushed_within": "7d"}, config).pushed_within == timedelta(days=7)


def test_both_flags_of_pushed_within_reach_the_policy() -> None:
    params = {p.name: p for p in command("plan").params}
    assert params["pushed_within"].opts == ["--pushed-within", "--max-age"]
    assert "[PUSHED_WITHIN or MAX_AGE or MAX_AGE_SECONDS]" in (params["pushed_within"].help or "")


def test_a_bad_seed_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_AGE_SECONDS", "abc")
    expected = r"pushed_within \(PUSHED_WITHIN or MAX_AGE or MAX_AGE_SECONDS\): .*'abc'"
    with pytest.raises(UsageError, match=expected):
        load_settings({})


def test_every_flagged_setting_is_an_option_of_the_commands_of_its_group() -> None:
    by_group = {
        Group.REGISTRY: ("plan", "run", "apply", "du", "explain", "verify", "gc"),
        Group.API: ("plan", "run", "apply", "du", "explain", "verify", "gc"),
        Group.POLICY: ("plan", "run", "du", "explain"),
        Group.APPLY: ("run", "apply"),
        Group.NATIVE: ("gc",),
        Group.PULLS: ("plan", "run", "du", "explain", "listen", "pulls import"),
        Group.LISTEN: ("listen",),
        Group.IN_USE: ("plan", "run", "du", "explain"),
        Group.MEMORY: ("plan", "run", "apply", "du", "gc"),
    }
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra
        assert isinstance(extra, dict), name
        for flag in extra["flags"]:
            for each in str(flag).split("/"):
                for cmd in by_group[Group(extra["group"])]:
                    assert each in flags_of(cmd), f"{each} ({name}) missing from {cmd}"


def test_a_policy_file_replaces_exactly_the_flat_policy_settings() -> None:
    assert {
        "pushed_within",
        "exclude_tags",
        "keep_last",
        "repositories",
        "exclude_repositories",
        "untagged_grace",
        "delete_orphan_artifacts",
        "pulled_within",
        "keep_most_recently_pulled",
    } == FLAT_POLICY


def test_the_pull_rules_are_flat_settings_and_a_pull_store_is_read_when_there_is_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("PULLED_WITHIN", "7d")
    settings = load_settings({"keep_most_recently_pulled": 3})
    [policy] = settings.policies().policies
    assert (policy.pulled_within, policy.keep_most_recently_pulled) == (timedelta(days=7), 3)
    default = tmp_path / "regsweep" / "pulls.sqlite"
    assert settings.pull_store(needed=False) is None  # none yet: the plan reads none
    assert settings.pull_store(needed=True) == default  # a pull rule: refused when opened
    default.parent.mkdir()
    default.touch()
    assert settings.pull_store(needed=False) == default
    given = load_settings({"pulls_db": tmp_path / "elsewhere.sqlite"})
    assert given.pull_store(needed=False) == tmp_path / "elsewhere.sqlite"


def test_env_names_list_every_alias_and_plain_settings_their_own_name() -> None:
    assert env_names("storage") == "STORAGE or REGSWEEP_STORAGE"
    assert env_names("keep_last") == "KEEP_LAST"
    assert env_names("max_age_seconds") == "MAX_AGE_SECONDS"


def test_the_command_list_shows_each_commands_own_help() -> None:
    for name, (_, short) in COMMANDS.items():
        assert command(name).get_short_help_str(limit=200) == short


def test_settings_become_a_target_and_the_collection_options() -> None:
    settings = load_settings({"registry_url": "http://127.0.0.1:5000", "concurrency": 3})
    spec = settings.target_spec()
    assert spec == TargetSpec(storage=None, s3=spec.s3, registry=settings.registry_access())
    assert spec.registry is not None and spec.registry.concurrency == 3
    # API only, no container or command: the registry is left to collect by itself
    assert settings.collect_options().collector is Collector.NONE
    native = load_settings(
        {
            "registry_dir": Path("/srv"),
            "gc": "native",
            "gc_offline": True,
            "docker_registry_name": "registry",
        }
    )
    options = native.collect_options()
    assert options.collector is Collector.NATIVE
    assert options.native.mode is NativeMode.OFFLINE
    assert options.restart_argv == ("docker", "restart", "registry")


def test_the_memory_limit_reaches_the_collection_in_bytes_else_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = load_settings({"registry_dir": Path("/srv"), "memory_limit": "64MiB"})
    assert given.memory_limit_bytes() == 64 * 2**20
    assert given.native_options().memory_limit == 64 * 2**20
    monkeypatch.setenv("REGSWEEP_MEMORY_LIMIT", "1.5G")
    assert load_settings({}).memory_limit_bytes() == 3 * 2**29
    monkeypatch.delenv("REGSWEEP_MEMORY_LIMIT")
    assert load_settings({}).native_options().memory_limit == default_memory_limit()


def test_native_collection_over_the_api_alone_is_refused() -> None:
    settings = load_settings({"registry_url": "http://127.0.0.1:5000", "gc": "native"})
    with pytest.raises(UsageError, match="--gc native collects on the registry's storage"):
        settings.collect_options()


def test_an_empty_variable_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI templates set ``DRY_RUN=""``: that is "not set", for every setting."""
    for name in ("DRY_RUN", "MAX_AGE_SECONDS", "EXCLUDE_TAGS", "REGISTRY_URL", "KEEP_LAST"):
        monkeypatch.setenv(name, "")
    settings = load_settings({})
    assert settings.model_fields_set == set()
    assert (settings.dry_run, settings.pushed_within, settings.registry_url) == (
        False,
        timedelta(days=30),
        None,
    )


def test_a_real_run_missing_the_container_stops_before_discovery() -> None:
    settings = load_settings({"registry_dir": Path("/srv")})
    with pytest.raises(MissingSettingError, match="set DOCKER_REGISTRY_NAME"):
        settings.collect_options()


def test_a_dry_run_missing_the_container_carries_it_as_missing() -> None:
    options = load_settings({"registry_dir": Path("/srv"), "dry_run": True}).collect_options()
    assert options.collector is Collector.REGISTRY and options.gc_argv is None
    assert options.missing is not None and "set DOCKER_REGISTRY_NAME" in options.missing
    native = load_settings({"registry_dir": Path("/srv"), "dry_run": True, "gc": "native"})
    missing_restart = native.collect_options()
    assert missing_restart.collector is Collector.NATIVE
    assert missing_restart.missing is not None and "--restart-command" in missing_restart.missing


def test_a_local_gc_command_reads_the_config_it_is_given_and_sees_no_setting() -> None:
    settings = load_settings(
        {
            "registry_dir": Path("/srv"),
            "gc_command": "docker-registry garbage-collect {config}",
            "docker_registry_config": "/srv/config.yml",
            "restart": False,
        }
    )
    options = settings.collect_options()
    assert options.gc_argv == ("docker-registry", "garbage-collect", "/srv/config.yml")
    assert options.gc_config == Path("/srv/config.yml")
    assert options.withheld_env == OWN_ENV_NAMES


def test_images_in_use_match_the_registry_by_the_host_of_its_url_or_the_names_given(
    tmp_path: Path,
) -> None:
    in_use = tmp_path / "in-use.txt"
    from_url = load_settings({"in_use_file": in_use, "registry_url": "https://Reg.example:5000"})
    named = load_settings({"in_use_file": in_use, "registry_hosts": "reg.local, 10.0.0.5:5000"})
    kubectl = "kubectl get pods -o 'jsonpath={..image}'"
    command = load_settings({"in_use_command": kubectl})

    assert (spec := from_url.in_use_spec()) is not None and spec.hosts == {"reg.example:5000"}
    assert (spec := named.in_use_spec()) is not None
    assert spec.hosts == {"reg.local", "10.0.0.5:5000"} and spec.file == in_use
    with pytest.raises(UsageError, match="--registry-host"):
        command.in_use_spec()
    spec = load_settings({"in_use_command": kubectl, "registry_hosts": "reg.local"}).in_use_spec()
    assert spec is not None
    assert spec.command == ("kubectl", "get", "pods", "-o", "jsonpath={..image}")
    assert load_settings({}).in_use_spec() is None


def test_images_in_use_are_kept_beside_a_policy_file(tmp_path: Path) -> None:
    """Not a flat policy setting: a policy file does not replace them."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies: [{name: all, keep: {last: 1}}]\n")
    settings = load_settings(
        {"policy_file": policy, "in_use_file": tmp_path / "x", "registry_hosts": "reg.local"}
    )
    assert settings.policies().policies[0].name == "all"
    assert settings.in_use_spec() is not None
