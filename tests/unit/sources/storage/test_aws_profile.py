"""AWS shared files: static keys and region of a profile; profiles without keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from regsweep.core.errors import UsageError
from regsweep.sources.storage.aws_profile import ProfileSettings, read_profile

CREDENTIALS = """
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = secret-default

[ci]
aws_access_key_id = AKIACI
aws_secret_access_key = secret-ci
aws_session_token = token-ci

[half]
aws_access_key_id = AKIAHALF
"""

CONFIG = """
[default]
region = eu-west-1

[profile ci]
region = us-west-2

[profile sso]
sso_session = corp
region = eu-central-1
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(CREDENTIALS)
    (tmp_path / ".aws" / "config").write_text(CONFIG)
    return tmp_path


def test_the_default_profile(home: Path) -> None:
    assert read_profile({}, home) == ProfileSettings(
        "AKIADEFAULT", "secret-default", None, "eu-west-1"
    )


def test_a_named_profile_with_its_token_and_region(home: Path) -> None:
    assert read_profile({"AWS_PROFILE": "ci"}, home) == ProfileSettings(
        "AKIACI", "secret-ci", "token-ci", "us-west-2"
    )


def test_files_named_in_the_environment(home: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.write_text("[default]\naws_access_key_id = A\naws_secret_access_key = B\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(other), "AWS_CONFIG_FILE": str(tmp_path / "none")}

    assert read_profile(env, home) == ProfileSettings("A", "B", None, None)


def test_no_files_give_nothing(tmp_path: Path) -> None:
    assert read_profile({}, tmp_path) == ProfileSettings()


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("sso", "holds no static keys"),
        ("missing", "is not in the AWS shared files"),
        ("half", "only one of aws_access_key_id and aws_secret_access_key"),
    ],
)
def test_a_named_profile_without_usable_keys_is_refused(
    home: Path, profile: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        read_profile({"AWS_PROFILE": profile}, home)


def test_an_unreadable_file_is_a_usage_error(home: Path) -> None:
    (home / ".aws" / "credentials").write_text("no section header\n")

    with pytest.raises(UsageError, match="cannot read the AWS file"):
        read_profile({}, home)
