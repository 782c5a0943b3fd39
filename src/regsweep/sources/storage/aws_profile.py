"""Static keys and the region from the AWS shared files (``~/.aws/credentials``, ``config``).

obstore reads the AWS environment variables, web identity (EKS), container (ECS) and
instance (EC2) credentials itself, but not the shared files, where most people keep the
keys ``aws configure`` wrote. Only static keys are read here: a profile that gets its
keys another way (SSO, ``credential_process``, ``role_arn``) is refused with the command
that exports them, rather than silently falling through to other credentials.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from regsweep.core.errors import UsageError


@dataclass(frozen=True, slots=True)
class ProfileSettings:
    """What one profile gives: keys (all or none) and a region (or not)."""

    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    region: str | None = None


def read_profile(env: Mapping[str, str], home: Path) -> ProfileSettings:
    """The profile ``AWS_PROFILE`` names (default ``default``), from the files the
    environment points at (``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``).

    Empty when the files or the default profile are absent. A profile named in
    ``AWS_PROFILE`` that gives no keys is a :class:`UsageError`: the user asked for it.
    """
    named = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
    name = named or "default"
    credentials = _section(
        Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials"), name
    )
    config = _section(
        Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config"),
        name if name == "default" else f"profile {name}",
    )
    merged = {**config, **credentials}
    key, secret = merged.get("aws_access_key_id"), merged.get("aws_secret_access_key")
    if bool(key) != bool(secret):
        raise UsageError(
            f"AWS profile {name!r} has only one of aws_access_key_id and aws_secret_access_key"
        )
    if named and not key:
        why = (
            "holds no static keys, the only kind regsweep reads from the shared files"
            if merged.keys() & _INDIRECT
            else "is not in the AWS shared files"
        )
        raise UsageError(
            f"AWS profile {name!r} {why}; export its keys instead, e.g. "
            f"eval $(aws configure export-credentials --profile {name} --format env)"
        )
    return ProfileSettings(
        access_key_id=key or None,
        secret_access_key=secret or None,
        session_token=(merged.get("aws_session_token") or None) if key else None,
        region=merged.get("region") or None,
    )


#: Profile keys that mean "the keys come from elsewhere".
_INDIRECT = frozenset({"sso_session", "sso_start_url", "credential_process", "role_arn"})


def _section(path: Path, name: str) -> dict[str, str]:
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise UsageError(f"cannot read the AWS file {path}: {exc}") from None
    return dict(parser.items(name)) if parser.has_section(name) else {}
