"""Options shared by the commands, and the one place they become :class:`Settings`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from regsweep.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

_POLICY_OPTIONS = [
    click.option(
        "--registry-dir",
        type=click.Path(path_type=Path),
        help="Registry data folder [REGISTRY_DIR].",
    ),
    click.option(
        "--registry-url", help="Registry API URL, e.g. http://127.0.0.1:5000 [REGISTRY_URL]."
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
        "--config",
        "config_file",
        type=click.Path(path_type=Path),
        help="YAML file with any of these settings (flags and environment win).",
    ),
    click.option(
        "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
    ),
]

_SETTING_NAMES = [
    "registry_dir",
    "registry_url",
    "max_age",
    "exclude_tags",
    "keep_last",
    "repositories",
    "exclude_repositories",
    "untagged_grace",
    "dry_run",
    "docker_registry_name",
    "docker_registry_config",
    "gc",
    "gc_command",
    "restart",
    "restart_command",
    "journal",
    "concurrency",
]


def policy_options(function: F) -> F:
    """Add the discovery and policy options of ``regsweep plan``."""
    for option in reversed(_POLICY_OPTIONS):
        function = option(function)
    return function


def settings_from(params: dict[str, Any]) -> Settings:
    """Pop the setting flags out of a command's parameters and layer env and file below them."""
    flags = {name: params.pop(name) for name in _SETTING_NAMES if name in params}
    return load_settings(flags, params.pop("config_file", None))
