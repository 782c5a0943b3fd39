"""Options shared by the commands, and the one place they become :class:`Settings`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from regsweep.core.errors import UsageError
from regsweep.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

_REGISTRY_OPTIONS = [
    click.option(
        "--registry-dir",
        type=click.Path(path_type=Path),
        help="Registry data folder [REGISTRY_DIR].",
    ),
    click.option(
        "--registry-url", help="Registry API URL, e.g. http://127.0.0.1:5000 [REGISTRY_URL]."
    ),
    click.option(
        "--storage",
        help="Registry storage on S3: s3://BUCKET/ROOTDIRECTORY, as the registry's s3 driver "
        "has it; credentials from the AWS environment or profile [REGSWEEP_STORAGE].",
    ),
    click.option(
        "--s3-endpoint", help="S3 endpoint URL (the driver's regionendpoint) [S3_ENDPOINT]."
    ),
    click.option("--s3-region", help="S3 region (the driver's region) [S3_REGION]."),
    click.option(
        "--s3-path-style/--s3-virtual-hosted",
        default=None,
        help="Bucket in the path (default) or in the host name (the driver's forcepathstyle).",
    ),
    click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path),
        help="YAML file with any of these settings (flags and environment win).",
    ),
    click.option(
        "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
    ),
]

#: How to reach the registry API: credentials and TLS. Passwords are better given on stdin
#: or in the environment than as a flag, which other users can read in the process list.
_API_OPTIONS = [
    click.option("--username", "registry_username", help="Registry user [REGISTRY_USERNAME]."),
    click.option(
        "--password",
        "registry_password",
        help="Registry password; prefer --password-stdin [REGISTRY_PASSWORD].",
    ),
    click.option("--password-stdin", is_flag=True, help="Read the registry password from stdin."),
    click.option(
        "--ca-cert",
        "registry_ca_cert",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Trust only this CA (PEM) for the registry's TLS certificate [REGISTRY_CA_CERT].",
    ),
    click.option(
        "--client-cert",
        "registry_client_cert",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Client certificate (PEM) for mutual TLS [REGISTRY_CLIENT_CERT].",
    ),
    click.option(
        "--client-key",
        "registry_client_key",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Key of --client-cert, unless in the same file [REGISTRY_CLIENT_KEY].",
    ),
    click.option(
        "--insecure",
        "registry_insecure",
        is_flag=True,
        default=None,
        help="Do NOT verify the registry's TLS certificate (anyone on the path can "
        "impersonate it) [REGISTRY_INSECURE].",
    ),
    click.option(
        "--untag-method",
        type=click.Choice(["auto", "tag-delete", "throwaway"]),
        help="Over the API, how to remove a tag whose digest another tag keeps: DELETE by "
        "tag, or a throw-away manifest; default auto (detected once) [UNTAG_METHOD].",
    ),
]

_POLICY_OPTIONS = [
    click.option(
        "--policy",
        "policy_file",
        type=click.Path(path_type=Path),
        help="Policy file (YAML or TOML, see docs/policies.md) instead of the flat policy "
        "options below [REGSWEEP_POLICY].",
    ),
    click.option(
        "--max-age",
        help="Delete tags pushed longer ago than this: 3600, 12h, 30d, 2w [MAX_AGE_SECONDS]. "
        "Default 30d.",
    ),
    click.option(
        "--exclude-tags",
        help="Regex of tags never deleted, matched anywhere in the name [EXCLUDE_TAGS].",
    ),
    click.option(
        "--keep-last", type=int, help="Keep the N most recently pushed tags per repository."
    ),
    click.option("--repositories", help="Only repositories whose whole name matches this regex."),
    click.option("--exclude-repositories", help="Never touch repositories matching this regex."),
    click.option(
        "--untagged-grace",
        help="Never delete a manifest pushed less long ago than this. Default 1h.",
    ),
    click.option(
        "--delete-orphan-artifacts/--keep-orphan-artifacts",
        default=None,
        help="Delete signatures, SBOMs and attestations whose image is gone (the default), "
        "or keep them [DELETE_ORPHAN_ARTIFACTS].",
    ),
]

#: What changing the registry takes: shared by ``run`` and ``apply``.
_APPLY_OPTIONS = [
    click.option(
        "--dry-run", is_flag=True, default=None, help="Show the plan, change nothing [DRY_RUN]."
    ),
    click.option(
        "--gc",
        type=click.Choice(["registry", "native", "none"]),
        help="Garbage collector: the registry's (default), regsweep's own, or none.",
    ),
    click.option("--gc-command", help="GC command template with {name} and {config}."),
    click.option(
        "--restart/--no-restart",
        default=None,
        help="Restart the registry after a GC that freed blobs.",
    ),
    click.option(
        "--restart-command", help="Restart command template with {name}; default docker restart."
    ),
    click.option("--docker-registry-name", help="The registry's container [DOCKER_REGISTRY_NAME]."),
    click.option(
        "--docker-registry-config",
        help="Its config path in the container [DOCKER_REGISTRY_CONFIG].",
    ),
    click.option("--journal", type=click.Path(path_type=Path), help="Journal file (JSON lines)."),
    click.option("--concurrency", type=int, help="Deletions at once; default 8."),
    click.option(
        "--max-delete",
        help="Safety brake: stop before deleting anything when the plan deletes more than "
        "this share of the registry's tags, e.g. 50% (the default) [MAX_DELETE].",
    ),
    click.option(
        "--max-delete-per-repository",
        help="Safety brake per repository: stop when the plan deletes more than this share "
        "of any one repository's tags; off by default [MAX_DELETE_PER_REPOSITORY].",
    ),
    click.option(
        "--force", is_flag=True, help="Apply even when the plan goes over the safety brake."
    ),
]

_SETTING_NAMES = [
    "registry_dir",
    "registry_url",
    "storage",
    "s3_endpoint",
    "s3_region",
    "s3_path_style",
    "max_age",
    "exclude_tags",
    "keep_last",
    "repositories",
    "exclude_repositories",
    "untagged_grace",
    "delete_orphan_artifacts",
    "policy_file",
    "max_delete",
    "max_delete_per_repository",
    "dry_run",
    "docker_registry_name",
    "docker_registry_config",
    "gc",
    "gc_command",
    "gc_offline",
    "gc_grace",
    "quarantine_delay",
    "upload_max_age",
    "restart",
    "restart_command",
    "journal",
    "concurrency",
    "registry_username",
    "registry_password",
    "registry_ca_cert",
    "registry_client_cert",
    "registry_client_key",
    "registry_insecure",
    "untag_method",
]


def _add(function: F, options: list[Callable[[Any], Any]]) -> F:
    for option in reversed(options):
        function = option(function)
    return function


def registry_options(function: F) -> F:
    """Where the registry is, the settings file and the output format."""
    return _add(function, _REGISTRY_OPTIONS + _API_OPTIONS)


def policy_options(function: F) -> F:
    """The registry options and the policy options of ``regsweep plan``."""
    return _add(function, _REGISTRY_OPTIONS + _API_OPTIONS + _POLICY_OPTIONS)


def apply_options(function: F) -> F:
    """Dry run, garbage collection, restart, journal, concurrency and the safety brake."""
    return _add(function, _APPLY_OPTIONS)


def settings_from(params: dict[str, Any]) -> Settings:
    """Pop the setting flags out of a command's parameters and layer env and file below them."""
    flags = {name: params.pop(name) for name in _SETTING_NAMES if name in params}
    if params.pop("password_stdin", False):
        if flags.get("registry_password") is not None:
            raise UsageError("--password and --password-stdin: give the password only once")
        flags["registry_password"] = sys.stdin.readline().rstrip("\r\n")
    return load_settings(flags, params.pop("config_file", None))
