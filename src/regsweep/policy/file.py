"""The policy file: ordered, per-repository retention policies in YAML or TOML.

The format is documented, with examples, in ``docs/policies.md``; the tests parse every
example there. Everything is validated before the registry is read: an unknown key, a bad
regex or duration, a duplicate key or policy name is an error naming the file, the key and
the problem. A typo must never turn into a silently missing keep rule, which would delete
what the rule was written to keep.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from regsweep.core.durations import parse_duration
from regsweep.core.errors import UsageError
from regsweep.core.model import Digest, parse_digest
from regsweep.policy.rules import DEFAULT_UNTAGGED_GRACE, Policy, PolicySet, compile_pattern

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Count = Annotated[int, Field(ge=1, strict=True)]


def _regex(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None:
        compile_pattern(value, str(info.field_name))
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScopeSpec(_Section):
    """``repositories:``. ``include`` must match the whole name; ``exclude`` anywhere."""

    include: str | None = None
    exclude: str | None = None

    _check = field_validator("include", "exclude")(_regex)


class KeepSpec(_Section):
    """``keep:``: the keep rules, ORed. At least one is required."""

    tags: str | None = None
    last: Count | None = None
    pushed_within: Duration | None = None
    semver: Count | None = None
    digests: list[str] = Field(default_factory=list)
    pulled_within: Duration | None = None
    keep_most_recently_pulled: Count | None = None

    _check = field_validator("tags")(_regex)

    @field_validator("digests")
    @classmethod
    def _digests(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_digest(value)
        return values

    @model_validator(mode="after")
    def _some_rule(self) -> KeepSpec:
        rules = (
            self.tags,
            self.last,
            self.pushed_within,
            self.semver,
            self.pulled_within,
            self.keep_most_recently_pulled,
        )
        if all(rule is None for rule in rules) and not self.digests:
            raise ValueError(f"at least one keep rule is required ({', '.join(_RULE_KEYS)})")
        return self


#: The keep rules, as the policy file names them.
_RULE_KEYS = tuple(KeepSpec.model_fields)


class ArtifactsSpec(_Section):
    """``artifacts:``: what happens to signatures, SBOMs and other referrers."""

    delete_orphans: bool = True


class PolicySpec(_Section):
    """One entry of ``policies:``: a name, a scope, keep rules, a grace and artifacts."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    repositories: ScopeSpec = ScopeSpec()
    keep: KeepSpec
    untagged_grace: Duration = DEFAULT_UNTAGGED_GRACE
    artifacts: ArtifactsSpec = ArtifactsSpec()

    def policy(self) -> Policy:
        """The policy this entry describes, its patterns compiled."""
        keep = self.keep
        return Policy(
            name=self.name,
            repositories=_compiled(self.repositories.include),
            exclude_repositories=_compiled(self.repositories.exclude),
            exclude_tags=_compiled(keep.tags),
            keep_last=keep.last or 0,
            pushed_within=keep.pushed_within,
            keep_versions=keep.semver or 0,
            pinned=frozenset(Digest(d) for d in keep.digests),
            untagged_grace=self.untagged_grace,
            delete_orphan_artifacts=self.artifacts.delete_orphans,
            pulled_within=keep.pulled_within,
            keep_most_recently_pulled=keep.keep_most_recently_pulled or 0,
        )


class PolicyFileSpec(_Section):
    """The whole file: an ordered list of policies, the first whose scope matches wins."""

    policies: list[PolicySpec] = Field(min_length=1)

    @field_validator("policies")
    @classmethod
    def _unique_names(cls, policies: list[PolicySpec]) -> list[PolicySpec]:
        seen: set[str] = set()
        for policy in policies:
            if policy.name in seen:
                raise ValueError(f"two policies are named {policy.name!r}")
            seen.add(policy.name)
        return policies


#: The keys allowed in each section, named by the key that holds the section.
_SECTIONS: dict[str | None, type[BaseModel]] = {
    None: PolicyFileSpec,
    "policies": PolicySpec,
    "repositories": ScopeSpec,
    "keep": KeepSpec,
    "artifacts": ArtifactsSpec,
}


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    return None if pattern is None else compile_pattern(pattern, "a pattern")


def load_policy_file(path: Path) -> PolicySet:
    """Read, validate and compile a policy file; :class:`UsageError` names what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"policy file {path}: cannot read it: {exc.strerror}") from None
    return parse_policies(raw, path)


def parse_policies(raw: bytes, path: Path) -> PolicySet:
    """Parse policy file content; ``path`` picks the format (by suffix) and names errors."""
    data = _decode(raw, path)
    if not isinstance(data, dict):
        raise UsageError(f"policy file {path}: expected a mapping with a 'policies' list")
    try:
        spec = PolicyFileSpec.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"policy file {path}: {_describe(exc, data)}") from None
    source = f"{path} (sha256:{hashlib.sha256(raw).hexdigest()})"
    return PolicySet(tuple(p.policy() for p in spec.policies), source=source)


def _decode(raw: bytes, path: Path) -> Any:
    suffix = path.suffix.lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"policy file {path}: not UTF-8 text") from None
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"policy file {path}: not valid TOML: {exc}") from None
    if suffix in (".yaml", ".yml"):
        try:
            return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as exc:
            raise UsageError(f"policy file {path}: not valid YAML: {_yaml_problem(exc)}") from None
    raise UsageError(f"policy file {path}: unknown format: name it .yaml, .yml or .toml")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys.

    Plain YAML keeps the last of two equal keys, so a second ``keep:`` would silently drop
    the first one's rules.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    messages = []
    for error in exc.errors():
        loc = error["loc"]
        where = _key(loc, data)
        if error["type"] == "extra_forbidden":
            parent = next((p for p in reversed(loc[:-1]) if isinstance(p, str)), None)
            allowed = ", ".join(_SECTIONS[parent].model_fields)
            messages.append(f"{where}: unknown key (allowed here: {allowed})")
            continue
        if error["type"] == "missing":
            messages.append(f"{where}: required key is missing")
            continue
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        if isinstance(value, str | int | float) and str(value) not in message:
            message += f" (got {value!r})"
        messages.append(f"{where}: {message}")
    return "; ".join(messages)


def _key(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """``policies[1].keep.last``, with the policy's name when it has one."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    if len(loc) >= 2 and loc[0] == "policies" and isinstance(loc[1], int):
        policies = data.get("policies")
        name = None
        if isinstance(policies, list) and loc[1] < len(policies):
            entry = policies[loc[1]]
            name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str):
            text += f" (policy {name!r})"
    return text or "policies"
