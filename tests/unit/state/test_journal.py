"""The journal: one file per registry by default, and every record names its registry;
lines on disk as they are written, owner-only, never just stopping."""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.plan.file import RegistryIdentity
from regsweep.state.journal import Journal, default_journal_path, state_dir

SAFE_NAME = re.compile(r"([A-Za-z0-9][A-Za-z0-9.-]*-)?[0-9a-f]{12}\.jsonl")
#: ISO 8601 in UTC to the millisecond, as every record's ``time`` is written.
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
REGISTRY = RegistryIdentity("/srv/registry", None)


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


def records(path: Path) -> list[dict[str, object]]:
    """The journal's records without their time and registry (tested above)."""
    found = [json.loads(line) for line in path.read_text().splitlines()]
    for record in found:
        del record["time"], record["registry"]
    return found


def test_each_record_is_on_disk_as_soon_as_it_is_written(tmp_path: Path) -> None:
    """A run killed between two deletions leaves every line it wrote before the kill."""
    path = tmp_path / "journal.jsonl"
    with Journal(path, REGISTRY) as journal:
        journal.write("attempt", action="untag", target="app:old")
        on_disk = records(path)
        journal.write("action", action="untag", target="app:old", outcome="deleted")

    assert on_disk == [{"event": "attempt", "action": "untag", "target": "app:old"}]
    assert len(records(path)) == 2


def test_a_record_starts_with_its_time_event_and_registry_then_the_fields_in_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    before = datetime.now(UTC)
    with Journal(path, REGISTRY) as journal:
        journal.write("gc", bytes_before=10, bytes_after=3, command=["registry", "gc"])
    after = datetime.now(UTC)

    (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert list(record) == ["time", "event", "registry", "bytes_before", "bytes_after", "command"]
    assert TIME.fullmatch(str(record["time"]))
    written = datetime.fromisoformat(str(record["time"]))
    assert before - timedelta(milliseconds=1) <= written <= after
    assert record["command"] == ["registry", "gc"]


def test_runs_append_to_the_same_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    for run in ("first", "second"):
        with Journal(path, REGISTRY) as journal:
            journal.write("start", run=run)

    assert [record["run"] for record in records(path)] == ["first", "second"]


def test_the_journal_and_its_new_folder_are_the_owners_alone(tmp_path: Path) -> None:
    """Targets and registry details are nobody else's business."""
    path = tmp_path / "state" / "regsweep" / "journal.jsonl"
    old_umask = os.umask(0o022)
    try:
        with Journal(path, REGISTRY) as journal:
            journal.write("start")
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (RuntimeError("garbage collection failed"), "garbage collection failed"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
    ],
)
def test_a_run_stopped_by_an_error_ends_with_a_record_saying_what_stopped_it(
    tmp_path: Path, error: BaseException, said: str
) -> None:
    """Ctrl-C included: the journal never just stops, so a reader knows the run ended."""
    path = tmp_path / "journal.jsonl"
    with pytest.raises(type(error)), Journal(path, REGISTRY) as journal:
        journal.write("start")
        raise error

    assert records(path) == [{"event": "start"}, {"event": "end", "failed": True, "error": said}]


def test_a_run_that_ends_well_adds_nothing_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path, REGISTRY) as journal:
        journal.write("end", failed=False)
    journal.write("after the close")  # ignored: the journal is closed

    assert records(path) == [{"event": "end", "failed": False}]


def test_without_a_path_nothing_is_written_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Journal(None, REGISTRY) as journal:
        journal.write("attempt", target="app:old")

    assert list(tmp_path.iterdir()) == []


def test_the_state_folder_is_xdg_state_home_else_the_home_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "regsweep"

    monkeypatch.setenv("XDG_STATE_HOME", "")  # set but empty counts as unset
    assert state_dir() == tmp_path / "home" / ".local" / "state" / "regsweep"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_dir() == tmp_path / "home" / ".local" / "state" / "regsweep"
