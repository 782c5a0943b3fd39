"""``--log-format json``: every line every command writes on stderr is one JSON object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import clean_env, local_gc, regsweep
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """stderr as log records; fails on any line that is not a JSON object with the fields."""
    records = []
    for line in stderr.splitlines():
        record = json.loads(line)
        assert set(record) >= {"time", "level", "logger", "message"}, line
        records.append(record)
    return records


#: Every command that reads the registry, none of them changing it.
READ_ONLY = [
    ["plan"],
    ["du"],
    ["explain", "shop/web:feature-login"],
    ["verify"],
    ["gc", "--dry-run"],
    ["run", "--dry-run", "--gc", "none"],
]


def test_every_command_logs_only_json_lines(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)
    where = ["--registry-dir", str(registry.root)]
    for command in READ_ONLY:
        done = regsweep("--log-format", "json", *command, *where, env=clean_env(tmp_path))
        assert done.returncode == 0, (command, done.stderr)
        json_lines(done.stderr)
        assert done.stdout, command  # data still goes to stdout, as text

    done = regsweep(
        "--log-format",
        "json",
        "run",
        *where,
        "--force",
        *local_gc(registry),
        env=clean_env(tmp_path),
    )

    assert done.returncode == 0, done.stderr
    records = json_lines(done.stderr)
    messages = [r["message"] for r in records]
    assert any(m.startswith("policy default:") for m in messages)
    assert any(m.startswith("journal: ") for m in messages)
    # the warning that the registry was not restarted, without rich's markup
    (restart,) = [r for r in records if "not restarted" in r["message"]]
    assert restart["level"] == "warning" and "[" not in restart["message"]


def test_a_refusal_is_one_json_error_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path, {"MAX_AGE_SECONDS": "abc"})

    done = regsweep("--log-format", "json", "plan", "--registry-dir", str(tmp_path), env=env)

    assert done.returncode == 2
    (record,) = json_lines(done.stderr)
    assert record["level"] == "error" and "MAX_AGE_SECONDS" in record["message"]


def test_a_bad_flag_is_one_json_error_line(tmp_path: Path) -> None:
    done = regsweep("--log-format", "json", "plan", "--no-such-flag", env=clean_env(tmp_path))

    assert done.returncode == 2
    (record,) = json_lines(done.stderr)
    assert "--no-such-flag" in record["message"]
