"""Which storage a registry's config file names, as its garbage-collect will read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from regsweep.collect.registry_config import DEFAULT_ROOTDIRECTORY, configured_storage
from regsweep.core.errors import UsageError


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return path


def test_the_filesystem_driver_names_its_rootdirectory_resolved(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    path = config(tmp_path, f"storage: {{filesystem: {{rootdirectory: {tmp_path}/link}}}}")
    assert configured_storage(path, {}) == str((tmp_path / "data").resolve())


def test_without_a_rootdirectory_the_drivers_default_is_named(tmp_path: Path) -> None:
    path = config(tmp_path, "storage: {filesystem: {}, delete: {enabled: true}}")
    assert configured_storage(path, {}) == DEFAULT_ROOTDIRECTORY


def test_the_environment_overrides_the_file_as_distribution_reads_it(tmp_path: Path) -> None:
    path = config(tmp_path, "storage: {filesystem: {rootdirectory: /var/lib/registry}}")
    env = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path)}
    assert configured_storage(path, env) == str(tmp_path.resolve())


def test_an_empty_override_is_an_override(tmp_path: Path) -> None:
    """Measured on distribution 2.8.2: ``REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=`` makes
    its garbage-collect read the default folder, not the file's."""
    path = config(tmp_path, f"storage: {{filesystem: {{rootdirectory: {tmp_path}}}}}")
    env = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": ""}
    assert configured_storage(path, env) == DEFAULT_ROOTDIRECTORY


def test_the_s3_driver_names_its_bucket_and_rootdirectory(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        "storage: {s3: {bucket: images, rootdirectory: /registry/, region: x}, cache: {}}",
    )
    assert configured_storage(path, {}) == "s3://images/registry"
    assert configured_storage(path, {"REGISTRY_STORAGE_S3_ROOTDIRECTORY": ""}) == "s3://images"
    assert configured_storage(path, {"REGISTRY_STORAGE_S3_BUCKET": "other"}) == (
        "s3://other/registry"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("storage: {gcs: {bucket: b}}", "storage driver gcs is not one regsweep cleans"),
        ("storage: {s3: {region: x}}", "storage.s3 names no bucket"),
        ("http: {addr: ':5000'}", "has no storage section"),
        ("storage: [", "cannot read it"),
    ],
)
def test_a_config_regsweep_cannot_compare_is_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = config(tmp_path, text)
    with pytest.raises(UsageError, match=expected) as raised:
        configured_storage(path, {})
    assert str(path) in str(raised.value)


def test_a_missing_config_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist: set DOCKER_REGISTRY_CONFIG"):
        configured_storage(tmp_path / "nope.yml", {})
