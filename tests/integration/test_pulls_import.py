"""``regsweep pulls import``: past pulls from the access logs the real registry wrote, in its
text and JSON formats, as ``docker logs`` gives them and gzipped; importing twice changes
nothing, and a file that is not a registry log changes nothing either."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from tests.conftest import RegistryFactory
from tests.support.cli import clean_env, regsweep, regsweep_json
from tests.support.images import Pusher
from tests.support.listener import all_facts, recorded
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import set_push_time

DAY = 86400


def registry_with_history(
    registry_factory: RegistryFactory, formatter: str, tmp_path: Path
) -> tuple[RegistryServer, str]:
    """A registry logging at info level (every request) in ``formatter``: three tags
    pushed, ``pulled`` and the multi-arch ``multi`` pulled with skopeo, ``idle`` never; then
    stopped, so its log is complete. Returns it and the child digest skopeo pulled."""
    registry = registry_factory({"log": {"level": "info", "formatter": formatter}})
    with Pusher(registry.url) as pusher:
        pusher.push_image("app", "pulled")
        pusher.push_image("app", "idle")
        children = [
            pusher.push_image("app", None),
            pusher.push_image("app", None, platform=("linux", "arm64")),
        ]
        pusher.push_index("app", "multi", children)
    for tag in ("pulled", "idle", "multi"):
        set_push_time(registry.root, "app", tag, time.time() - 40 * DAY)
    assert_pulls(registry.host, "app", "pulled", tmp_path / "pulls")
    assert_pulls(registry.host, "app", "multi", tmp_path / "pulls")
    registry.stop()
    return registry, children[0].digest


@pytest.mark.parametrize("formatter", ["text", "json"])
def test_the_registrys_own_log_gives_its_pulls_and_pushes_and_importing_again_changes_nothing(
    formatter: str, registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    registry, child = registry_with_history(registry_factory, formatter, tmp_path)
    db = tmp_path / "pulls.sqlite"
    env = clean_env(tmp_path / "state")

    done = regsweep("pulls", "import", str(registry.log_path), "--pulls-db", str(db), env=env)
    assert done.returncode == 0, done.stderr
    assert f"imported {registry.log_path}: " in done.stderr
    source = f"access log {registry.log_path}"
    pulled = recorded(db)
    assert pulled[("app", "pulled")] == source
    assert pulled[("app", "multi")] == source
    assert pulled[("app", child)] == source  # skopeo fetched each platform by digest
    assert ("app", "idle") not in pulled
    assert {("app", "pulled"), ("app", "idle"), ("app", "multi")} <= set(recorded(db, "push"))

    before = all_facts(db)
    again = regsweep("pulls", "import", str(registry.log_path), "--pulls-db", str(db), env=env)
    assert again.returncode == 0, again.stderr
    assert all_facts(db) == before

    registry.start()  # the plan reads the storage; the store knows a few seconds only
    plan = regsweep_json(
        "plan",
        "--registry-dir",
        str(registry.root),
        "--pulls-db",
        str(db),
        "--pulled-within",
        "7d",
        env=env,
    )
    assert [a for a in plan["actions"] if a["action"] == "untag"] == []
    explained = regsweep_json(
        "explain",
        "app:pulled",
        "--registry-dir",
        str(registry.root),
        "--pulls-db",
        str(db),
        "--pulled-within",
        "7d",
        env=env,
    )
    assert explained["tags"][0]["last_pulled"]["source"] == source


def test_docker_logs_output_and_gzipped_logs_give_the_same_facts(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    registry, _ = registry_with_history(registry_factory, "text", tmp_path)
    lines = registry.log_path.read_text().splitlines()
    # `docker logs --timestamps`, and the json-file driver's own file, around the same lines
    stamped = tmp_path / "docker-logs-t.txt"
    stamped.write_text("".join(f"2026-12-07T01:16:17.312491073Z {line}\n" for line in lines))
    json_file = tmp_path / "container-json.log"
    json_file.write_text(
        "".join(json.dumps({"log": f"{line}\n", "stream": "stderr"}) + "\n" for line in lines)
    )
    rotated = tmp_path / "registry.log.1"
    rotated.write_bytes(gzip.compress(registry.log_path.read_bytes()))
    env = clean_env(tmp_path / "state")

    found = []
    for log in (registry.log_path, stamped, json_file, rotated):
        db = tmp_path / f"{log.name}.sqlite"
        done = regsweep("pulls", "import", str(log), "--pulls-db", str(db), env=env)
        assert done.returncode == 0, done.stderr
        found.append(
            {(action, *key) for action in ("pull", "push") for key in recorded(db, action)}
        )
    assert ("pull", "app", "pulled") in found[0]
    assert all(facts == found[0] for facts in found)


def test_a_file_that_is_not_a_registry_log_is_refused_and_nothing_is_written(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    registry, _ = registry_with_history(registry_factory, "text", tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\nworld\n")
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(registry.log_path.read_bytes())[:200])
    db = tmp_path / "pulls.sqlite"
    env = clean_env(tmp_path / "state")
    cases = {
        notes: "no request the registry logged in 2 lines",
        broken: "not a readable gzip file",
        tmp_path / "missing.log": "cannot read",
    }
    for bad, message in cases.items():
        # the good log first: it is read, but nothing is written when a later file is bad
        done = regsweep(
            "pulls", "import", str(registry.log_path), str(bad), "--pulls-db", str(db), env=env
        )
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not db.exists()
