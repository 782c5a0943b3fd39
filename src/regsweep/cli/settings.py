"""Configuration: command-line flags, then environment variables, then a YAML file.

Every setting is declared once, here, with its flag, its environment names and its help:
the click options (:mod:`regsweep.cli.options`), the environment names, the YAML keys and
the error messages all derive from this one class. The seed's environment variables keep
working unchanged as aliases (``REGISTRY_URL``, ``REGISTRY_DIR``, ``MAX_AGE_SECONDS``,
``EXCLUDE_TAGS``, ``DRY_RUN``, ``DOCKER_REGISTRY_NAME``, ``DOCKER_REGISTRY_CONFIG``). Every
value is validated here, before anything is read from the registry, so a typo is an exit-2
error and never a silent default (``MAX_AGE_SECONDS=abc`` must not become "every tag is
old").

Settings never leave the command line: they become the typed option values the use cases
take (:class:`~regsweep.pipeline.target.TargetSpec`,
:class:`~regsweep.pipeline.execution.RunOptions`, :class:`~regsweep.policy.rules.Policy`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypeVar
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
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from regsweep.apply.untag import UntagMethod
from regsweep.cli.memory import default_memory_limit
from regsweep.collect.options import (
    CollectOptions,
    Collector,
    NativeMode,
    NativeOptions,
)
from regsweep.collect.registry import (
    DEFAULT_CONTAINER_CONFIG,
    MissingSettingError,
    gc_command,
    restart_command,
)
from regsweep.core.durations import parse_duration
from regsweep.core.errors import UsageError
from regsweep.core.sizes import parse_size
from regsweep.pipeline.execution import RunOptions
from regsweep.pipeline.in_use import InUseSpec
from regsweep.pipeline.pulls import ListenOptions
from regsweep.pipeline.schedule import Schedule
from regsweep.pipeline.target import TargetSpec
from regsweep.plan.brake import BrakeLimits
from regsweep.policy.file import load_policy_file
from regsweep.policy.rules import (
    DEFAULT_EXCLUDE_TAGS,
    DEFAULT_PUSHED_WITHIN,
    DEFAULT_UNTAGGED_GRACE,
    Policy,
    PolicySet,
    compile_pattern,
)
from regsweep.sources.api.access import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    RegistryAccess,
    check_registry_url,
)
from regsweep.sources.events.listener import DEFAULT_MAX_BODY
from regsweep.sources.storage.s3_location import S3Location, S3Options
from regsweep.state.journal import state_dir
from regsweep.state.pulls import default_pulls_path

T = TypeVar("T")

#: The safety brake's default: a run deleting more than half of a registry's tags stops.
DEFAULT_MAX_DELETE_PERCENT = 50.0


class Group(Enum):
    """Which commands offer a setting as a flag (see :func:`regsweep.cli.options.options`)."""

    #: where the registry is: every command
    REGISTRY = "registry"
    #: how to reach its API: every command
    API = "api"
    #: the flat policy: plan, run, du, explain (a policy file replaces the whole group)
    POLICY = "policy"
    #: carrying a plan out: run and apply
    APPLY = "apply"
    #: regsweep's own collector: gc (run reads these from the environment or --config)
    NATIVE = "native"
    #: the pull store: listen, pulls import, and the commands that plan
    PULLS = "pulls"
    #: the notifications endpoint: listen
    LISTEN = "listen"
    #: the images workloads run: plan, run, du, explain (beside a policy file too)
    IN_USE = "in_use"
    #: the memory a run may use: the commands that plan or collect (plan, run, du, gc, apply)
    MEMORY = "memory"


def setting(
    default: Any,
    *,
    group: Group,
    help: str,
    flags: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    file: bool = False,
    **constraints: Any,
) -> Any:
    """Declare a setting: its default, the flags that set it, and its help.

    ``names`` are every name it answers to, the canonical one first (the YAML key and
    environment variable of each, case-insensitive); without them the field's own name.
    ``file``: a flag that takes a file, not a folder.
    """
    return Field(
        default,
        description=help,
        validation_alias=AliasChoices(*names) if names else None,
        json_schema_extra={"group": group.value, "flags": list(flags), "file": file},
        **constraints,
    )


class Settings(BaseSettings):
    """Every setting of a run. Field names are the YAML keys; env names are upper case."""

    #: ``env_ignore_empty``: ``DRY_RUN=""``, as CI templates set it, means "not set", for
    #: every setting, never an invalid value that stops every command
    model_config = SettingsConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, env_ignore_empty=True
    )

    registry_dir: Path | None = setting(
        None,
        group=Group.REGISTRY,
        flags=("--registry-dir",),
        help="Registry data folder.",
    )
    registry_url: str | None = setting(
        None,
        group=Group.REGISTRY,
        flags=("--registry-url",),
        help="Registry API URL, e.g. http://127.0.0.1:5000.",
    )
    #: the storage as a URL, ``s3://bucket/rootdirectory``, or a folder (as registry_dir)
    storage: str | None = setting(
        None,
        group=Group.REGISTRY,
        flags=("--storage",),
        names=("storage", "regsweep_storage"),
        help="Registry storage on S3: s3://BUCKET/ROOTDIRECTORY, as the registry's s3 driver "
        "has it; credentials from the AWS environment or profile.",
    )
    #: the registry's S3 driver settings ``regionendpoint``, ``region``, ``forcepathstyle``;
    #: credentials come from the AWS environment, profile or machine role
    s3_endpoint: str | None = setting(
        None,
        group=Group.REGISTRY,
        flags=("--s3-endpoint",),
        help="S3 endpoint URL (the driver's regionendpoint).",
    )
    s3_region: str | None = setting(
        None, group=Group.REGISTRY, flags=("--s3-region",), help="S3 region (the driver's region)."
    )
    s3_path_style: bool = setting(
        True,
        group=Group.REGISTRY,
        flags=("--s3-path-style/--s3-virtual-hosted",),
        help="Bucket in the path (default) or in the host name (the driver's forcepathstyle).",
    )
    #: registry API access (see regsweep.sources.api): credentials, else the Docker config.
    #: Passwords are better given on stdin or in the environment than as a flag, which
    #: other users can read in the process list.
    registry_username: str | None = setting(
        None, group=Group.API, flags=("--username",), help="Registry user."
    )
    registry_password: SecretStr | None = setting(
        None,
        group=Group.API,
        flags=("--password",),
        help="Registry password; prefer --password-stdin.",
    )
    registry_ca_cert: Path | None = setting(
        None,
        group=Group.API,
        flags=("--ca-cert",),
        file=True,
        help="Trust only this CA (PEM) for the registry's TLS certificate.",
    )
    registry_client_cert: Path | None = setting(
        None,
        group=Group.API,
        flags=("--client-cert",),
        file=True,
        help="Client certificate (PEM) for mutual TLS.",
    )
    registry_client_key: Path | None = setting(
        None,
        group=Group.API,
        flags=("--client-key",),
        file=True,
        help="Key of --client-cert, unless in the same file.",
    )
    registry_insecure: bool = setting(
        False,
        group=Group.API,
        flags=("--insecure",),
        help="Do NOT verify the registry's TLS certificate (anyone on the path can "
        "impersonate it).",
    )
    #: seconds to connect to the registry, or between two reads of an answer; a request
    #: that times out is tried again, see RetryPolicy
    registry_timeout: float = setting(
        DEFAULT_TIMEOUT,
        group=Group.API,
        help="Seconds to wait for the registry to connect or answer.",
        gt=0,
    )
    #: how a tag sharing its digest with a kept tag is removed over the API
    untag_method: Literal["auto", "tag-delete", "throwaway"] = setting(
        "auto",
        group=Group.API,
        flags=("--untag-method",),
        help="Over the API, how to remove a tag whose digest another tag keeps: DELETE by "
        "tag, or a throw-away manifest; default auto (detected once).",
    )
    #: a policy file (YAML or TOML) replacing the flat policy settings below
    policy_file: Path | None = setting(
        None,
        group=Group.POLICY,
        flags=("--policy",),
        names=("policy_file", "regsweep_policy"),
        help="Policy file (YAML or TOML, see docs/policies.md) instead of the flat policy "
        "options below.",
    )
    pushed_within: timedelta = setting(
        DEFAULT_PUSHED_WITHIN,
        group=Group.POLICY,
        flags=("--pushed-within", "--max-age"),
        names=("pushed_within", "max_age", "max_age_seconds"),
        help="Keep tags last pushed within this: 3600, 12h, 30d, 2w; older ones are "
        "deleted. Default 30d.",
    )
    exclude_tags: str = setting(
        DEFAULT_EXCLUDE_TAGS,
        group=Group.POLICY,
        flags=("--exclude-tags",),
        help="Regex of tags never deleted, matched anywhere in the name.",
    )
    keep_last: int = setting(
        0,
        group=Group.POLICY,
        flags=("--keep-last",),
        help="Keep the N most recently pushed tags per repository.",
        ge=0,
    )
    repositories: str | None = setting(
        None,
        group=Group.POLICY,
        flags=("--repositories",),
        help="Only repositories whose whole name matches this regex.",
    )
    exclude_repositories: str | None = setting(
        None,
        group=Group.POLICY,
        flags=("--exclude-repositories",),
        help="Never touch repositories matching this regex.",
    )
    untagged_grace: timedelta = setting(
        DEFAULT_UNTAGGED_GRACE,
        group=Group.POLICY,
        flags=("--untagged-grace",),
        help="Never delete a manifest pushed less long ago than this. Default 1h.",
    )
    delete_orphan_artifacts: bool = setting(
        True,
        group=Group.POLICY,
        flags=("--delete-orphan-artifacts/--keep-orphan-artifacts",),
        help="Delete signatures, SBOMs and attestations whose image is gone (the default), "
        "or keep them.",
    )
    pulled_within: timedelta | None = setting(
        None,
        group=Group.POLICY,
        flags=("--pulled-within",),
        help="Keep tags pulled within this (7d, 30d), as the pull store recorded them; "
        "see docs/pulls.md.",
    )
    keep_most_recently_pulled: int = setting(
        0,
        group=Group.POLICY,
        flags=("--keep-most-recently-pulled",),
        help="Keep the N most recently pulled tags per repository (pull store).",
        ge=0,
    )
    #: the pull store (see regsweep.state.pulls); read whenever it exists
    pulls_db: Path | None = setting(
        None,
        group=Group.PULLS,
        flags=("--pulls-db",),
        file=True,
        help="Pull store (SQLite) written by listen and pulls import, read by the pull "
        "rules; default: pulls.sqlite in regsweep's state folder.",
    )
    listen_address: str | None = setting(
        None,
        group=Group.LISTEN,
        flags=("--address",),
        help="HOST:PORT to receive the registry's notifications on (POST /events); port 0 "
        "picks a free one.",
    )
    listen_token_file: Path | None = setting(
        None,
        group=Group.LISTEN,
        flags=("--token-file",),
        file=True,
        help="File holding the bearer token every POST must carry (the registry sends it "
        "through its endpoint's headers).",
    )
    #: the nightly cleanup run by the listener (docker compose has no scheduler)
    cleanup_schedule: str | None = setting(
        None,
        group=Group.LISTEN,
        flags=("--schedule",),
        help="Also run the cleanup (regsweep run, its settings from the environment) on this "
        "cron schedule, e.g. '0 3 * * *', one run at a time.",
    )
    listen_max_body: int = setting(
        DEFAULT_MAX_BODY,
        group=Group.LISTEN,
        flags=("--max-body",),
        help="Largest envelope accepted, in bytes (default 1 MiB); larger ones are answered 413.",
        ge=1024,
    )
    #: the images workloads run, kept by every policy (see regsweep.policy.in_use)
    in_use_file: Path | None = setting(
        None,
        group=Group.IN_USE,
        flags=("--in-use",),
        file=True,
        help="File of image references in use (host/repo:tag, host/repo@sha256:...), as "
        "docker ps, podman ps or kubectl print them: never deleted.",
    )
    in_use_command: str | None = setting(
        None,
        group=Group.IN_USE,
        flags=("--in-use-command",),
        help="Command printing the image references in use (run without a shell); if it "
        "fails, nothing is deleted.",
    )
    registry_hosts: str | None = setting(
        None,
        group=Group.IN_USE,
        flags=("--registry-host",),
        help="The names workloads pull this registry by, comma-separated "
        "(registry.example.com,10.0.0.5:5000); default: the host of --registry-url.",
    )
    dry_run: bool = setting(
        False, group=Group.APPLY, flags=("--dry-run",), help="Show the plan, change nothing."
    )
    keep_empty_repositories: bool = setting(
        False,
        group=Group.APPLY,
        flags=("--keep-empty-repositories",),
        help="Keep repositories the run leaves with no tag and no manifest (by default they "
        "are removed on storage, so they leave _catalog).",
    )
    strict: bool = setting(
        False,
        group=Group.APPLY,
        flags=("--strict",),
        help="Refuse the whole registry (exit 2, nothing changed) when any repository "
        "cannot be read whole, instead of skipping those repositories and cleaning the rest.",
    )
    gc: Literal["registry", "native", "none"] = setting(
        "registry",
        group=Group.APPLY,
        flags=("--gc",),
        help="Garbage collector: the registry's (default), regsweep's own, or none.",
    )
    gc_command: str | None = setting(
        None,
        group=Group.APPLY,
        flags=("--gc-command",),
        help="GC command template with {name} and {config}.",
    )
    restart: bool = setting(
        True,
        group=Group.APPLY,
        flags=("--restart/--no-restart",),
        help="Restart the registry after a GC that freed blobs.",
    )
    restart_command: str | None = setting(
        None,
        group=Group.APPLY,
        flags=("--restart-command",),
        help="Restart command template with {name}; default docker restart.",
    )
    docker_registry_name: str | None = setting(
        None,
        group=Group.APPLY,
        flags=("--docker-registry-name",),
        help="The registry's container.",
    )
    #: None: the ``registry:2`` image's path for a command run in the container; a command
    #: run on this host must be given it (see regsweep.collect.registry.gc_command)
    docker_registry_config: str | None = setting(
        None,
        group=Group.APPLY,
        flags=("--docker-registry-config",),
        help="The registry's config file: its path in the container (default "
        f"{DEFAULT_CONTAINER_CONFIG}), or on this host for a local --gc-command.",
    )
    journal: Path | None = setting(
        None, group=Group.APPLY, flags=("--journal",), help="Journal file (JSON lines)."
    )
    #: node_exporter's textfile collector reads only ``*.prom`` files of its folder
    metrics_file: Path | None = setting(
        None,
        group=Group.APPLY,
        flags=("--metrics-file",),
        file=True,
        help="Write the run's Prometheus metrics to this .prom file (node_exporter's textfile "
        "collector), atomically, however the run ends.",
    )
    concurrency: int = setting(
        DEFAULT_CONCURRENCY,
        group=Group.APPLY,
        flags=("--concurrency",),
        help="Most requests in flight to the registry (the pace adapts below it) and "
        "deletions at once; default 32.",
        ge=1,
        le=256,
    )
    #: the safety brake: refuse a run deleting more than this percentage of the registry's
    #: tags, or of one repository's tags (None: no per-repository limit)
    max_delete: float = setting(
        DEFAULT_MAX_DELETE_PERCENT,
        group=Group.APPLY,
        flags=("--max-delete",),
        help="Safety brake: stop before deleting anything when the plan deletes more than "
        "this share of the registry's tags, e.g. 50% (the default).",
        ge=0,
        le=100,
    )
    confirm_first_cleanup: bool = setting(
        False,
        group=Group.APPLY,
        flags=("--confirm-first-cleanup",),
        help="Let a registry's first cleanup go past the safety brake's limits (asked at a "
        "terminal); later runs keep the brake, judged by the registry's history.",
    )
    max_delete_per_repository: float | None = setting(
        None,
        group=Group.APPLY,
        flags=("--max-delete-per-repository",),
        help="Safety brake per repository: stop when the plan deletes more than this share "
        "of any one repository's tags; off by default.",
        ge=0,
        le=100,
    )
    #: regsweep's own collector (``--gc native``, ``regsweep gc``); see regsweep.collect.
    #: ``gc_offline`` (GC_OFFLINE), not ``offline``: a stray OFFLINE=1 from a build
    #: environment must not turn off the grace period and the quarantine of a live registry.
    gc_offline: bool = setting(
        False,
        group=Group.NATIVE,
        flags=("--offline",),
        help="The registry is stopped or read-only: no grace period, no quarantine, delete "
        "at once.",
    )
    gc_grace: timedelta = setting(
        NativeOptions.grace,
        group=Group.NATIVE,
        flags=("--grace",),
        help="Never sweep blobs or layer links younger than this (default 1h).",
    )
    quarantine_delay: timedelta = setting(
        NativeOptions.quarantine_delay,
        group=Group.NATIVE,
        flags=("--quarantine-delay",),
        help="Delete a quarantined blob once unreferenced this long (default 24h).",
    )
    upload_max_age: timedelta = setting(
        NativeOptions.upload_max_age,
        group=Group.NATIVE,
        flags=("--upload-max-age",),
        help="Remove uploads not written to for this long (default 7d).",
    )
    #: bytes, parsed by :meth:`memory_limit_bytes`; checked when read (a typo is exit 2)
    memory_limit: str | None = setting(
        None,
        group=Group.MEMORY,
        flags=("--memory-limit",),
        names=("memory_limit", "regsweep_memory_limit"),
        help="Memory the run may use, e.g. 512MiB or 1G; past a quarter of it the "
        "registry-wide blob sets and sizes go to a temporary file (default: the "
        "container's limit, else a quarter of the RAM).",
    )

    @field_validator(
        "pushed_within",
        "pulled_within",
        "untagged_grace",
        "gc_grace",
        "quarantine_delay",
        "upload_max_age",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_duration(value)

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _size(cls, value: Any) -> str | None:
        if value is None:
            return None
        parse_size(value)
        return str(value)

    @field_validator("listen_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            split_address(value)
        return value

    @field_validator("cleanup_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            Schedule(value)
        return value

    @field_validator("metrics_file")
    @classmethod
    def _prom(cls, value: Path | None) -> Path | None:
        """Refused now, not after the run: a file the collector never reads, or one that
        cannot be written, would leave the cleanup unmonitored without a word."""
        if value is not None:
            if value.suffix != ".prom":
                raise ValueError(
                    f"{value}: the textfile collector reads only files ending in .prom"
                )
            if not value.parent.is_dir():
                raise ValueError(f"{value}: folder {value.parent} does not exist")
        return value

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

    def target_spec(self) -> TargetSpec:
        """Where the registry is: its storage (a folder or ``s3://``), its API, or both."""
        return TargetSpec(
            storage=self.storage or self.registry_dir,
            s3=S3Options(self.s3_endpoint, self.s3_region, self.s3_path_style),
            registry=self.registry_access(),
        )

    def registry_label(self) -> str:
        """The registry as metrics label it: its storage, else its URL."""
        return str(self.storage or self.registry_dir or self.registry_url or "")

    def registry_access(self) -> RegistryAccess | None:
        """How to reach the registry's API, or None when no URL is given."""
        if self.registry_url is None:
            return None
        password = self.registry_password
        return RegistryAccess(
            self.registry_url,
            username=self.registry_username,
            password=password.get_secret_value() if password is not None else None,
            ca_cert=self.registry_ca_cert,
            client_cert=self.registry_client_cert,
            client_key=self.registry_client_key,
            insecure=self.registry_insecure,
            timeout=self.registry_timeout,
            concurrency=self.concurrency,
        )

    @property
    def api_only(self) -> bool:
        """No storage given, only a URL: everything goes through the API."""
        return self.storage is None and self.registry_dir is None and self.registry_url is not None

    def policies(self) -> PolicySet:
        """The policy file's policies, or the one policy the flat settings describe.

        The two cannot be mixed: a ``MAX_AGE_SECONDS`` left in the environment next to a
        policy file would otherwise look like a rule that is in force and is not.
        """
        if self.policy_file is not None:
            flat = sorted(FLAT_POLICY & self.model_fields_set)
            if flat:
                names = ", ".join(f"{n} ({env_names(n)})" for n in flat)
                raise UsageError(
                    f"the policy file {self.policy_file} holds every policy setting; "
                    f"remove {names} from the flags, environment or --config"
                )
            return load_policy_file(self.policy_file)
        return PolicySet.of(
            Policy(
                pushed_within=self.pushed_within,
                exclude_tags=_compiled(self.exclude_tags, "exclude_tags"),
                keep_last=self.keep_last,
                repositories=_compiled(self.repositories, "repositories"),
                exclude_repositories=_compiled(self.exclude_repositories, "exclude_repositories"),
                untagged_grace=self.untagged_grace,
                delete_orphan_artifacts=self.delete_orphan_artifacts,
                pulled_within=self.pulled_within,
                keep_most_recently_pulled=self.keep_most_recently_pulled,
            )
        )

    def pull_store_path(self) -> Path:
        """The pull store: ``--pulls-db``, else the one in regsweep's state folder."""
        return self.pulls_db or default_pulls_path()

    def pull_store(self, *, needed: bool) -> Path | None:
        """The pull store a plan reads: the one given, or the default one when it exists or
        is ``needed`` (a pull rule is in force); None when there is none to read.

        A store that is needed or named but missing is refused when it is opened (exit 2),
        never read as "nothing was pulled".
        """
        path = self.pull_store_path()
        return path if self.pulls_db is not None or needed or path.is_file() else None

    def listen_options(self) -> ListenOptions:
        """Where ``regsweep listen`` listens, its token read from ``--token-file`` now."""
        if self.listen_address is None:
            raise UsageError("listen needs an address: --address HOST:PORT (LISTEN_ADDRESS)")
        host, port = split_address(self.listen_address)
        token = None
        if self.listen_token_file is not None:
            try:
                token = self.listen_token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(
                    f"--token-file {self.listen_token_file}: cannot read it: {exc}"
                ) from None
            if not token or any(c.isspace() for c in token):
                raise UsageError(
                    f"--token-file {self.listen_token_file}: expected one token on one line"
                )
        return ListenOptions(
            host, port, self.pull_store_path(), token, self.listen_max_body, self.metrics_path()
        )

    def metrics_path(self) -> Path:
        """The metrics file: ``--metrics-file``, else ``regsweep.prom`` in the state folder
        (where ``listen --schedule`` has its runs write it and ``/metrics`` reads it)."""
        return self.metrics_file or state_dir() / "regsweep.prom"

    def in_use_spec(self) -> InUseSpec | None:
        """Where the images in use are read, or None when no source is given.

        References are matched to this registry by the host they name, so the host must be
        known: a guess would either protect nothing or match another registry's images.
        """
        if self.in_use_file is None and self.in_use_command is None:
            return None
        hosts = [h.strip().lower() for h in (self.registry_hosts or "").split(",") if h.strip()]
        if not hosts and self.registry_url is not None:
            hosts = [urlsplit(self.registry_url).netloc.rpartition("@")[2].lower()]
        if not hosts:
            raise UsageError(
                "--in-use and --in-use-command match references by the registry's name: give "
                "the names workloads pull it by, --registry-host HOST[:PORT] (REGISTRY_HOSTS)"
            )
        command = None
        if self.in_use_command is not None:
            try:
                command = tuple(shlex.split(self.in_use_command))
            except ValueError as exc:
                raise UsageError(f"--in-use-command {self.in_use_command!r}: {exc}") from None
            if not command:
                raise UsageError("--in-use-command is empty")
        return InUseSpec(frozenset(hosts), self.in_use_file, command)

    def brake_limits(self) -> BrakeLimits:
        """The safety brake's limits."""
        return BrakeLimits(self.max_delete, self.max_delete_per_repository)

    def memory_limit_bytes(self) -> int | None:
        """``--memory-limit`` in bytes, else the container's limit or a share of the RAM
        (:func:`regsweep.cli.memory.default_memory_limit`)."""
        if self.memory_limit is not None:
            return parse_size(self.memory_limit)
        return default_memory_limit()

    def native_options(self) -> NativeOptions:
        """regsweep's own collector, as ``--gc native`` and ``regsweep gc`` run it."""
        return NativeOptions(
            mode=NativeMode.OFFLINE if self.gc_offline else NativeMode.LIVE,
            grace=self.gc_grace,
            quarantine_delay=self.quarantine_delay,
            upload_max_age=self.upload_max_age,
            memory_limit=self.memory_limit_bytes(),
        )

    def collect_options(self) -> CollectOptions:
        """The collection after apply, its commands built now: a real run missing a
        setting they need (the container's name, a local command's config) stops here,
        before discovery. A dry run runs no command: it carries what is missing as
        :attr:`CollectOptions.missing`, and says what a real run will ask for.

        In API mode (no storage folder) garbage collection runs only when a container name
        or a command was given: many registries reached over the API (zot, Harbor, GHCR)
        collect garbage themselves, and the others need to be told how. ``--gc native``
        runs regsweep's own collector on the storage: no GC command, but the same restart.
        """
        if self.gc == "none":
            return CollectOptions(Collector.NONE)
        if self.gc == "native" and self.api_only:
            raise UsageError(
                "--gc native collects on the registry's storage: give --registry-dir or "
                "--storage, or use --gc registry or --gc none"
            )
        unnamed = not (self.docker_registry_name or self.gc_command)
        if self.gc == "registry" and self.api_only and unnamed:
            return CollectOptions(Collector.NONE)
        missing: list[str] = []
        gc_argv, gc_config = None, None
        if self.gc == "registry":
            built = self._unless_missing(
                lambda: gc_command(
                    self.gc_command,
                    name=self.docker_registry_name,
                    config=self.docker_registry_config,
                ),
                missing,
            )
            gc_argv, gc_config = built or (None, None)
        return CollectOptions(
            Collector.NATIVE if self.gc == "native" else Collector.REGISTRY,
            gc_argv,
            self._unless_missing(self.restart_argv, missing),
            native=self.native_options(),
            gc_config=gc_config,
            container=self.docker_registry_name,
            withheld_env=OWN_ENV_NAMES,
            missing="; ".join(missing) or None,
        )

    def _unless_missing(self, build: Callable[[], T], missing: list[str]) -> T | None:
        """``build()``; in a dry run, a setting it finds missing is added to ``missing``
        instead of stopping the run."""
        try:
            return build()
        except MissingSettingError as exc:
            if not self.dry_run:
                raise
            missing.append(str(exc))
            return None

    def restart_argv(self) -> tuple[str, ...] | None:
        """The restart command after a GC that freed blobs, or None when turned off."""
        if not self.restart:
            return None
        return restart_command(
            self.restart_command, name=self.docker_registry_name, config=self.docker_registry_config
        )

    def run_options(self, *, command: str, collect: CollectOptions) -> RunOptions:
        """How ``run`` and ``apply`` carry a plan out."""
        return RunOptions(
            dry_run=self.dry_run,
            concurrency=self.concurrency,
            untag_method=UntagMethod(self.untag_method),
            journal=self.journal,
            collect=collect,
            command=command,
        )


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` as (host, port); ``ValueError`` naming the expected form."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{address!r} is not HOST:PORT (e.g. 127.0.0.1:5050)")
    return host, int(port)


def _compiled(pattern: str | None, what: str) -> Any:
    return compile_pattern(pattern, what) if pattern else None


def load_settings(flags: dict[str, Any], config_file: Path | None = None) -> Settings:
    """Build settings from flags (highest), the environment, then ``config_file``.

    Raises :class:`UsageError` with one line naming the setting and what is wrong.
    """
    if config_file is not None and not config_file.is_file():
        raise UsageError(f"config file {config_file} does not exist: give an existing --config")

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
        messages.append(f"{key} ({env_names(key)}): {message}")
    return "invalid configuration: " + "; ".join(messages)


#: Settings whose value is never repeated in an error: it may hold a password.
_SECRETS = frozenset({"registry_url", "registry_password"})


def setting_fields(*groups: Group) -> dict[str, FieldInfo]:
    """The settings of ``groups``, in the order they are declared."""
    wanted = {group.value for group in groups}
    return {
        name: info
        for name, info in Settings.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra["group"] in wanted
    }


def env_names(name: str) -> str:
    """The environment variables that set the setting ``name`` (or this one name when it is
    an alias the user typed), as the user would type them."""
    return " or ".join(_env_variables(name))


def _env_variables(name: str) -> tuple[str, ...]:
    info = Settings.model_fields.get(name)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        return tuple(str(choice).upper() for choice in alias.choices)
    return (name.upper(),)


#: The flat settings a policy file replaces.
FLAT_POLICY = frozenset(setting_fields(Group.POLICY)) - {"policy_file"}

#: Every environment variable a setting is read from: the commands regsweep runs never see
#: them (``REGISTRY_PASSWORD`` least of all; see regsweep.collect.registry.child_environment).
OWN_ENV_NAMES = frozenset(env for name in Settings.model_fields for env in _env_variables(name))
