"""The journal: one file per registry by default, and every record names its registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from regsweep.plan.file import RegistryIdentity
from regsweep.state.journal import Journal, default_journal_path

SAFE_NAME = re.compile(r"([A-Za-z0-9][A-Za-z0-9.-]*-)?[0-9a-f]{12}\.jsonl")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path / "regsweep" / "journals"


@pytest.mark.parametrize(
    ("registry", "readable"),
    [
        (RegistryIdentity("/var/lib/registry", None), "var-lib-registry-"),
        (RegistryIdentity("/srv/registry-b", "http://127.0.0.1:5001"), "srv-registry-b-"),
        (RegistryIdentity("s3://bucket/registry", None), "s3-bucket-registry-"),
        (RegistryIdentity(None, "https://registry.example.com:5000"), "https-registry.example."),
        # nothing a location holds makes a path, a hidden file or a name too long
        (RegistryIdentity("/", None), ""),
        (RegistryIdentity("/../.hidden/x y", None), "hidden-x-y-"),
        (RegistryIdentity("/mnt/" + "deep/" * 40 + "registry-prod", None), "deep-registry-prod-"),
    ],
)
def test_a_registrys_journal_is_named_after_it_readably_and_safely(
    state: Path, registry: RegistryIdentity, readable: str
) -> None:
    path = default_journal_path(registry)
    assert path.parent == state
    assert SAFE_NAME.fullmatch(path.name), path.name
    assert readable in path.name
    assert len(path.name) <= 80


def test_each_registry_has_its_own_journal(state: Path) -> None:
    paths = {
        default_journal_path(RegistryIdentity(storage, url))
        for storage, url in [
            ("/a/b", None),
            ("/a-b", None),  # same readable part, another registry: the hash tells them apart
            ("/srv/registry", None),
            (None, "http://127.0.0.1:5000"),
            (None, "http://127.0.0.1:5001"),
        ]
    }
    assert len(paths) == 5


def test_a_registry_reached_with_or_without_its_url_keeps_one_journal(state: Path) -> None:
    """The storage is the registry; the URL only carries manifest deletes to it."""
    alone = default_journal_path(RegistryIdentity("/srv/registry", None))
    assert default_journal_path(RegistryIdentity("/srv/registry", "http://r:5000")) == alone


def test_every_record_names_its_registry(tmp_path: Path) -> None:
    registry = RegistryIdentity("/srv/registry", "http://127.0.0.1:5000")
    path = tmp_path / "journal.jsonl"
    with pytest.raises(RuntimeError), Journal(path, registry) as journal:
        journal.write("start")
        journal.write("action", target="app:old")
        raise RuntimeError("killed")  # the closing record, written on the way out, too

    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["start", "action", "end"]
    for record in records:
        assert record["registry"] == {"storage": "/srv/registry", "url": "http://127.0.0.1:5000"}
