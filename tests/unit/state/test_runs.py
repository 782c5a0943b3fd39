"""Runs read back from a journal: one registry's, a killed run, a cut line, skipped repositories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from regsweep.plan.file import RegistryIdentity
from regsweep.state.runs import read_runs

OURS = RegistryIdentity("/srv/registry", None)
THEIRS = {"storage": "/srv/other", "url": None}


def line(event: str, minute: int, registry: Any = None, **fields: Any) -> str:
    record = {
        "time": f"2026-06-01T03:{minute:02d}:00.000+00:00",
        "event": event,
        # a run with --registry-url cleans the same registry as one without
        "registry": registry or {"storage": "/srv/registry", "url": "http://127.0.0.1:5000"},
        **fields,
    }
    return json.dumps(record)


def test_a_journal_reads_back_run_by_run(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    journal.write_text(
        "\n".join(
            [
                line("start", 0, plan={"tags_to_delete": 2, "manifests_to_delete": 1}),
                line("skipped", 0, repository="team/broken", problems=[]),
                line("action", 1, action="untag", target="app:a", outcome="deleted"),
                line("start", 1, THEIRS),  # another registry in a shared --journal file
                line("action", 1, action="untag", target="app:b", outcome="skipped"),
                line("action", 2, action="delete_manifest", target="app@x", outcome="deleted"),
                line("gc", 3, blobs_deleted=4, bytes_before=1000, bytes_after=400),
                line("end", 4, failed=False),
                '{"time": "2026-06-02T03:00:00.000+00:00", "event": "sta',  # cut by a full disk
                line("start", 10),
                line("action", 11, action="untag", target="app:c", outcome="failed", detail="500"),
                line("end", 12, failed=True, error="garbage collection failed"),
                line("start", 20),
                line("action", 21, action="untag", target="app:d", outcome="deleted"),
            ]
        )
        + "\n"
    )

    done, failed, killed = read_runs(journal, OURS)

    assert done.to_json() | {"started": None, "ended": None} == {
        "started": None,
        "ended": None,
        "result": "done",
        "error": None,
        "tags_planned": 2,
        "manifests_planned": 1,
        "tags_deleted": 1,
        "manifests_deleted": 1,
        "already_gone": 0,
        "skipped": 1,
        "failed": 0,
        "not_attempted": 0,
        "failures": [],
        "skipped_repositories": ["team/broken"],
        "bytes_freed": 600,
        "blobs_deleted": 4,
    }
    assert (failed.result, failed.error, failed.failures) == (
        "failed",
        "garbage collection failed",
        ["app:c: 500"],
    )
    assert (killed.result, killed.ended, killed.count("deleted")) == ("interrupted", None, 1)


def test_a_missing_journal_is_no_run(tmp_path: Path) -> None:
    assert read_runs(tmp_path / "none.jsonl", OURS) == []
