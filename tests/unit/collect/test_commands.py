"""The GC and restart command lines: where ``{config}`` comes from, what each needs, and
the environment they run in."""

from __future__ import annotations

from pathlib import Path

import pytest

from regsweep.cli.settings import OWN_ENV_NAMES
from regsweep.collect.registry import (
    DEFAULT_CONTAINER_CONFIG,
    MissingSettingError,
    child_environment,
    gc_command,
    restart_command,
)


def test_the_seeds_command_runs_in_the_container_with_the_images_config() -> None:
    argv, local_config = gc_command(None, name="registry", config=None)
    assert argv == (
        "docker",
        "exec",
        "-i",
        "registry",
        "/bin/registry",
        "garbage-collect",
        DEFAULT_CONTAINER_CONFIG,
    )
    assert local_config is None  # a path in the container: nothing to read here


@pytest.mark.parametrize(
    "template",
    [
        "kubectl exec -n infra deploy/registry -- registry garbage-collect {config}",
        "podman exec {name} registry garbage-collect {config}",
        "sudo docker exec {name} /bin/registry garbage-collect {config}",
        "ssh registry-host registry garbage-collect {config}",
    ],
)
def test_a_command_run_elsewhere_defaults_to_the_containers_config(template: str) -> None:
    argv, local_config = gc_command(template, name="registry", config=None)
    assert argv[-1] == DEFAULT_CONTAINER_CONFIG
    assert local_config is None


def test_a_command_run_here_has_no_default_config() -> None:
    """On a Debian host the container's path exists and names another storage."""
    with pytest.raises(MissingSettingError, match="DOCKER_REGISTRY_CONFIG") as raised:
        gc_command("docker-registry garbage-collect {config}", name=None, config=None)
    assert "docker-registry runs on this host" in str(raised.value)


def test_a_command_run_here_reads_the_config_it_is_given() -> None:
    argv, local_config = gc_command(
        "docker-registry garbage-collect {config}", name=None, config="/srv/registry.yml"
    )
    assert argv == ("docker-registry", "garbage-collect", "/srv/registry.yml")
    assert local_config == Path("/srv/registry.yml")


def test_a_config_written_into_the_command_is_the_one_read() -> None:
    argv, local_config = gc_command(
        "/usr/bin/docker-registry garbage-collect --dry-run=false /srv/r.yml",
        name=None,
        config=None,
    )
    assert local_config == Path("/srv/r.yml")
    assert argv[-1] == "/srv/r.yml"


def test_a_local_command_whose_config_cannot_be_known_is_refused() -> None:
    with pytest.raises(MissingSettingError, match=r"put \{config\} in --gc-command"):
        gc_command("/opt/bin/collect.sh", name=None, config="/srv/registry.yml")


@pytest.mark.parametrize(
    ("make", "flag"),
    [
        (lambda: gc_command(None, name=None, config=None), "--gc-command"),
        (lambda: restart_command(None, name=None, config=None), "--restart-command"),
    ],
)
def test_a_command_naming_the_container_needs_its_name(make: object, flag: str) -> None:
    with pytest.raises(MissingSettingError, match=f"DOCKER_REGISTRY_NAME.*{flag}"):
        make()  # type: ignore[operator]


def test_the_child_environment_drops_regsweeps_settings_and_keeps_the_registrys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret")
    monkeypatch.setenv("registry_dir", "/srv")  # the settings read names in any case
    monkeypatch.setenv("REGISTRY_STORAGE_S3_ACCESSKEY", "AKIA")
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/docker.sock")

    env = child_environment(OWN_ENV_NAMES)

    assert "REGISTRY_PASSWORD" not in env and "registry_dir" not in env
    assert env["REGISTRY_STORAGE_S3_ACCESSKEY"] == "AKIA"
    assert env["DOCKER_HOST"] == "unix:///run/docker.sock"


#: distribution's config sections: ``REGISTRY_<SECTION>_...`` overrides one of them.
REGISTRY_SECTIONS = (
    "VERSION", "LOG", "LOGLEVEL", "STORAGE", "AUTH", "MIDDLEWARE", "REPORTING", "HTTP",
    "NOTIFICATIONS", "REDIS", "HEALTH", "PROXY", "COMPATIBILITY", "VALIDATION", "POLICY",
)  # fmt: skip


def test_regsweeps_settings_are_withheld_and_none_is_a_registry_override() -> None:
    for name in (
        "REGISTRY_DIR",
        "REGISTRY_URL",
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
        "MAX_AGE_SECONDS",
        "EXCLUDE_TAGS",
        "DRY_RUN",
        "DOCKER_REGISTRY_NAME",
        "DOCKER_REGISTRY_CONFIG",
    ):
        assert name in OWN_ENV_NAMES
    overrides = {n for n in OWN_ENV_NAMES if n.split("_")[0] == "REGISTRY"}
    assert overrides, "the seed's REGISTRY_* names are regsweep's own"
    for name in overrides:
        section = name.removeprefix("REGISTRY_").split("_")[0]
        assert section not in REGISTRY_SECTIONS, f"{name} would hide a registry override"
