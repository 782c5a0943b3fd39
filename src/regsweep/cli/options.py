"""The commands' options, made from the settings' own declarations, and the one place a
command's parameters become :class:`Settings`."""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic.fields import FieldInfo

from regsweep.cli.settings import Group, Settings, env_names, load_settings, setting_fields
from regsweep.core.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

#: Options of every command that are not settings: the settings file and the output format.
_COMMON = [
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

#: Options that are not settings, shown after their group's settings.
_EXTRAS: dict[Group, list[Callable[[Any], Any]]] = {
    Group.REGISTRY: _COMMON,
    Group.API: [
        click.option(
            "--password-stdin", is_flag=True, help="Read the registry password from stdin."
        )
    ],
    Group.APPLY: [
        click.option(
            "--force", is_flag=True, help="Apply even when the plan goes over the safety brake."
        )
    ],
}


def _option(name: str, info: FieldInfo) -> Callable[[F], F]:
    """A click option for the setting ``name``, as its declaration describes it.

    Every option defaults to None, "not given", so the environment and the settings file
    below the flags decide; pydantic validates the value, so click only splits words.
    """
    extra = info.json_schema_extra
    assert isinstance(extra, dict)
    flags = [str(flag) for flag in typing.cast(list[str], extra["flags"])]
    help_text = f"{info.description} [{env_names(name)}]"
    annotation = _without_none(info.annotation)
    kwargs: dict[str, Any] = {"default": None, "help": help_text}
    if annotation is bool:
        if "/" not in flags[0]:  # --x/--no-x is a boolean pair by itself
            kwargs["is_flag"] = True
    elif annotation is Path:
        kwargs["type"] = click.Path(path_type=Path, dir_okay=not extra["file"])
    elif typing.get_origin(annotation) is typing.Literal:
        kwargs["type"] = click.Choice([str(choice) for choice in typing.get_args(annotation)])
    elif annotation is int:
        kwargs["type"] = int
    return click.option(*flags, name, **kwargs)


def _without_none(annotation: Any) -> Any:
    """``X`` for ``X | None``."""
    if isinstance(annotation, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def options(*groups: Group, names: tuple[str, ...] = ()) -> Callable[[F], F]:
    """The flags of the settings of ``groups`` (then of the settings ``names``), in the
    order the settings are declared; after the registry's, ``--config`` and ``--output``."""
    decorators: list[Callable[[F], F]] = []
    for group in groups:
        decorators += [_option(n, i) for n, i in setting_fields(group).items() if _has_flags(i)]
        decorators += _EXTRAS.get(group, [])
    decorators += [_option(name, Settings.model_fields[name]) for name in names]

    def add(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return add


def _has_flags(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and bool(extra["flags"])


def settings_from(params: dict[str, Any]) -> Settings:
    """Pop the setting flags out of a command's parameters and layer env and file below them."""
    flags = {name: params.pop(name) for name in Settings.model_fields if name in params}
    if params.pop("password_stdin", False):
        if flags.get("registry_password") is not None:
            raise UsageError("--password and --password-stdin: give the password only once")
        flags["registry_password"] = sys.stdin.readline().rstrip("\r\n")
    return load_settings(flags, params.pop("config_file", None))
