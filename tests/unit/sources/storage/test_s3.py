"""S3Store without a server: what it hands obstore from regsweep's S3 options, the
environment and the AWS profile, and what it makes of obstore's answers. Against a
server: tests/integration/test_s3_store.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from regsweep.core.errors import UsageError
from regsweep.sources.storage.s3 import S3Location, S3Options, S3Store, _stored
from regsweep.sources.storage.s3_listing import delete_floor, list_floor


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose default profile has keys and a region, and a profile ``ci``."""
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s\n"
        "[ci]\naws_access_key_id = AKIACI\naws_secret_access_key = s\n"
    )
    (tmp_path / ".aws" / "config").write_text("[profile ci]\nregion = us-west-2\n")
    return tmp_path


def store_config(home: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, object]:
    """The settings an S3Store hands obstore, in an environment of only ``env``."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = S3Options(endpoint=env.get("ENDPOINT"), region=env.get("REGION"))
    return dict(S3Store(S3Location("bucket", "registry"), options)._store.config)


def test_the_store_takes_the_profile_keys_unless_the_environment_has_keys(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = store_config(home, monkeypatch, AWS_PROFILE="ci")
    assert (config["access_key_id"], config["region"]) == ("AKIACI", "us-west-2")

    config = store_config(
        home,
        monkeypatch,
        AWS_ACCESS_KEY_ID="AKIAENV",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_REGION="ap-south-1",
    )
    assert "access_key_id" not in config and "region" not in config  # obstore reads the env
    with pytest.raises(UsageError, match=r"S3 settings for s3://bucket/registry: .*Secret"):
        store_config(home, monkeypatch, AWS_ACCESS_KEY_ID="AKIAENV")

    config = store_config(home, monkeypatch, REGION="sa-east-1")  # --s3-region wins
    assert (config["access_key_id"], config["region"]) == ("AKIADEFAULT", "sa-east-1")


def test_a_virtual_hosted_endpoint_carries_the_bucket(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home))
    hosted = S3Options(endpoint="https://minio.example:9000/", path_style=False)
    path = S3Options(endpoint="https://minio.example:9000/")

    assert S3Store(S3Location("b1", ""), hosted)._store.config["endpoint"] == (
        "https://b1.minio.example:9000"
    )
    assert S3Store(S3Location("b1", ""), path)._store.config["endpoint"] == (
        "https://minio.example:9000"
    )
    with pytest.raises(UsageError, match="not an http"):
        S3Store(S3Location("b1", ""), S3Options(endpoint="minio:9000"))


def test_mtimes_are_whole_seconds_whatever_the_store_lists() -> None:
    """MinIO lists milliseconds, a HEAD has seconds: one push must read back the same."""
    listed = {
        "path": "x",
        "size": 1,
        "last_modified": datetime(2024, 5, 1, 12, 0, 0, 987000, tzinfo=UTC),
        "e_tag": None,
        "version": None,
    }

    assert _stored(listed).mtime == datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()  # type: ignore[arg-type]


def test_the_request_floor() -> None:
    """A page holds 1,000 keys; a listing that finds none still costs its request; a
    delete of no key costs none."""
    assert list_floor([]) == 0
    assert list_floor([0, 1, 999, 1000]) == 4
    assert list_floor([1001, 2500, 10_000_000]) == 2 + 3 + 10_000
    assert [delete_floor(n) for n in (0, 1, 1000, 1001, 25_000)] == [0, 1, 1, 2, 25]
