"""Configuration: command-line flags, then environment variables, then a YAML file.

The seed's environment variables keep working unchanged (``REGISTRY_URL``,
``REGISTRY_DIR``, ``MAX_AGE_SECONDS``, ``EXCLUDE_TAGS``, ``DRY_RUN``,
``DOCKER_REGISTRY_NAME``, ``DOCKER_REGISTRY_CONFIG``). Every value is validated here, before
anything is read from the registry, so a typo is an exit-2 error and never a silent default
(``MAX_AGE_SECONDS=abc`` must not become "every tag is old").
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from regsweep.collect.native.collector import (
    DEFAULT_GRACE,
    DEFAULT_QUARANTINE_DELAY,
    DEFAULT_UPLOAD_MAX_AGE,
)
from regsweep.core.durations import parse_duration
from regsweep.core.errors import UsageError
from regsweep.policy.file import load_policy_file
from regsweep.policy.rules import (
    DEFAULT_EXCLUDE_TAGS,
    DEFAULT_MAX_AGE,
    DEFAULT_UNTAGGED_GRACE,
    Policy,
    PolicySet,
    compile_pattern,
)
from regsweep.sources.api.client import DEFAULT_TIMEOUT, check_registry_url
from regsweep.sources.storage.s3 import S3Location, S3Options

#: The safety brake's default: a run deleting more than half of a registry's tags stops.
DEFAULT_MAX_DELETE_PERCENT = 50.0

#: Where the official ``registry:2`` image keeps its configuration.
DEFAULT_CONTAINER_CONFIG = "/etc/docker/registry/config.yml"


class Settings(BaseSettings):
    """Every setting of a run. Field names are the YAML keys; env names are upper case."""

    model_config = SettingsConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    registry_dir: Path | None = None
    registry_url: str | None = None
    #: the storage as a URL, ``s3://bucket/rootdirectory``, or a folder (as registry_dir)
    storage: str | None = Field(None, validation_alias=AliasChoices("storage", "regsweep_storage"))
    #: the registry's S3 driver settings ``regionendpoint``, ``region``, ``forcepathstyle``;
    #: credentials come from the AWS environment, profile or machine role
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_path_style: bool = True
    max_age: timedelta = Field(
        DEFAULT_MAX_AGE, validation_alias=AliasChoices("max_age", "max_age_seconds")
    )
    exclude_tags: str = DEFAULT_EXCLUDE_TAGS
    keep_last: int = Field(0, ge=0)
    repositories: str | None = None
    exclude_repositories: str | None = None
    untagged_grace: timedelta = DEFAULT_UNTAGGED_GRACE
    #: delete signatures, SBOMs and attestations whose image is gone (``--keep-orphan-artifacts``)
    delete_orphan_artifacts: bool = True
    #: a policy file (YAML or TOML) replacing the flat policy settings above
    policy_file: Path | None = Field(
        None, validation_alias=AliasChoices("policy_file", "regsweep_policy")
    )
    #: the safety brake: refuse a run deleting more than this percentage of the registry's
    #: tags, or of one repository's tags (None: no per-repository limit)
    max_delete: float = Field(DEFAULT_MAX_DELETE_PERCENT, ge=0, le=100)
    max_delete_per_repository: float | None = Field(None, ge=0, le=100)
    dry_run: bool = False
    docker_registry_name: str | None = None
    docker_registry_config: str = DEFAULT_CONTAINER_CONFIG
    gc: Literal["registry", "native", "none"] = "registry"
    #: regsweep's own collector (``--gc native``, ``regsweep gc``); see regsweep.collect.native.
    #: ``gc_offline`` (GC_OFFLINE), not ``offline``: a stray OFFLINE=1 from a build
    #: environment must not turn off the grace period and the quarantine of a live registry.
    gc_offline: bool = False
    gc_grace: timedelta = DEFAULT_GRACE
    quarantine_delay: timedelta = DEFAULT_QUARANTINE_DELAY
    upload_max_age: timedelta = DEFAULT_UPLOAD_MAX_AGE
    gc_command: str | None = None
    restart: bool = True
    restart_command: str | None = None
    journal: Path | None = None
    concurrency: int = Field(8, ge=1, le=256)
    #: registry API access (see regsweep.sources.api): credentials, else the Docker config
    registry_username: str | None = None
    registry_password: SecretStr | None = None
    registry_ca_cert: Path | None = None
    registry_client_cert: Path | None = None
    registry_client_key: Path | None = None
    registry_insecure: bool = False
    #: seconds to connect to the registry, or between two reads of an answer
    #: (REGISTRY_TIMEOUT); a request that times out is tried again, see RetryPolicy
    registry_timeout: float = Field(DEFAULT_TIMEOUT, gt=0)
    #: how a tag sharing its digest with a kept tag is removed over the API
    untag_method: Literal["auto", "tag-delete", "throwaway"] = "auto"

    @field_validator(
        "max_age",
        "untagged_grace",
        "gc_grace",
        "quarantine_delay",
        "upload_max_age",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("max_delete", "max_delete_per_repository", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        """``50%`` or ``50``: a percentage of tags."""
        if isinstance(value, str):
            return value.strip().removesuffix("%").strip()
        return value

    @field_validator("exclude_tags", "repositories", "exclude_repositories")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value, "the pattern")
        return value

    @field_validator("registry_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        """Checked as the client will, now: in storage mode the client is made only when
        the first manifest delete is near, too late for an exit-2 error."""
        if value is None or value == "":
            return None
        try:
            return check_registry_url(value)
        except UsageError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if not value:
            return None
        scheme = urlsplit(value).scheme
        if scheme == "s3":
            S3Location.parse(value)
        elif len(scheme) > 1:  # a one-letter scheme is a Windows drive
            raise ValueError(f"{value!r}: only s3:// URLs and local folders are supported")
        return value

    @model_validator(mode="after")
    def _one_storage(self) -> Settings:
        if self.storage is not None and self.registry_dir is not None:
            raise ValueError(
                "storage (REGSWEEP_STORAGE) and registry_dir (REGISTRY_DIR) both name the "
                "registry's storage: give only one"
            )
        return self

    @property
    def storage_location(self) -> str | Path | None:
        """Where the registry's storage is: an ``s3://`` URL, a folder, or None (API mode)."""
        return self.storage or self.registry_dir

    def s3_options(self) -> S3Options:
        return S3Options(self.s3_endpoint, self.s3_region, self.s3_path_style)

    def policies(self) -> PolicySet:
        """The policy file's policies, or the one policy the flat settings describe.

        The two cannot be mixed: a ``MAX_AGE_SECONDS`` left in the environment next to a
        policy file would otherwise look like a rule that is in force and is not.
        """
        if self.policy_file is not None:
            flat = sorted(_FLAT_POLICY & self.model_fields_set)
            if flat:
                names = ", ".join(f"{n} ({_ENV_NAMES.get(n, n.upper())})" for n in flat)
                raise UsageError(
                    f"the policy file {self.policy_file} holds every policy setting; "
                    f"remove {names} from the flags, environment or --config"
                )
            return load_policy_file(self.policy_file)
        return PolicySet.of(
            Policy(
                max_age=self.max_age,
                exclude_tags=compile_pattern(self.exclude_tags, "exclude_tags")
                if self.exclude_tags
                else None,
                keep_last=self.keep_last,
                repositories=compile_pattern(self.repositories, "repositories")
                if self.repositories
                else None,
                exclude_repositories=compile_pattern(
                    self.exclude_repositories, "exclude_repositories"
                )
                if self.exclude_repositories
                else None,
                untagged_grace=self.untagged_grace,
                delete_orphan_artifacts=self.delete_orphan_artifacts,
            )
        )


def load_settings(flags: dict[str, Any], config_file: Path | None = None) -> Settings:
    """Build settings from flags (highest), the environment, then ``config_file``.

    Raises :class:`UsageError` with one line naming the setting and what is wrong.
    """
    if config_file is not None and not config_file.is_file():
        raise UsageError(f"config file {config_file} does not exist")

    class _Layered(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
            return tuple(sources)

    if config_file is not None:
        _check_yaml(config_file)
    try:
        return _Layered(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise UsageError(_describe(exc, config_file)) from None
    except (ValueError, OSError) as exc:  # unreadable YAML
        raise UsageError(f"config file {config_file}: {exc}") from None


def _check_yaml(config_file: Path) -> None:
    """Refuse a config file that is not YAML, or not a mapping of settings, in one line
    (the YAML source would raise a parser error of several lines, or a confusing one)."""
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {config_file}: cannot read it: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UsageError(f"config file {config_file}: not valid YAML: {problem}{where}") from None
    if document is not None and not isinstance(document, dict):
        raise UsageError(
            f"config file {config_file}: not a mapping of settings (e.g. max_age: 30d)"
        )


def _describe(exc: ValidationError, config_file: Path | None) -> str:
    messages = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "settings"
        if error["type"] == "extra_forbidden":
            where = f" in {config_file}" if config_file else ""
            messages.append(f"{key}: unknown setting{where}")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings names them itself
            messages.append(message)
            continue
        value = error.get("input")
        if key not in _SECRETS and isinstance(value, str | int) and repr(value) not in message:
            message += f" (got {value!r})"
        messages.append(f"{key} ({_ENV_NAMES.get(key, key.upper())}): {message}")
    return "invalid configuration: " + "; ".join(messages)


#: Settings whose value is never repeated in an error: it may hold a password.
_SECRETS = frozenset({"registry_url", "registry_password"})

#: Environment names that differ from the upper-cased field name (the seed's names).
_ENV_NAMES = {
    "max_age": "MAX_AGE_SECONDS",
    "policy_file": "REGSWEEP_POLICY",
    "storage": "REGSWEEP_STORAGE",
}

#: The flat settings a policy file replaces.
_FLAT_POLICY = frozenset(
    {
        "max_age",
        "exclude_tags",
        "keep_last",
        "repositories",
        "exclude_repositories",
        "untagged_grace",
        "delete_orphan_artifacts",
    }
)
