"""Output read where regsweep runs: 80 columns, a pipe, a cron log; one journal per registry.

Every command runs as a subprocess with its output captured, so stdout and stderr are
pipes, not a terminal, and ``COLUMNS=80`` as an 80-column terminal or a cron job sets it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.conftest import RegistryFactory
from tests.support.cli import clean_env, regsweep, regsweep_json
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario
from tests.support.storage import blob_path, set_manifest_time, set_push_time, tag_exists

FULL_HEX = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
#: More than 12 hex digits after sha256: a digest not shortened, even if folded over lines
LONG_DIGEST = re.compile(r"sha256:[0-9a-f]{13}")
DU_HEADERS = ["repository", "policy", "tags", "manifests", "total", "unique", "shared"]
PLAN_HEADERS = ["action", "tag", "digest", "reason"]


def short(digest: str) -> str:
    return digest[: len("sha256:") + 12]


def words_of_the_line_starting(text: str, first: str) -> list[str]:
    """The words of the first line whose first word is ``first`` (a table's header)."""
    line = next(line for line in text.splitlines() if re.match(rf"\W*{first}\b", line))
    return re.findall(r"[a-z]+", line)


def assert_fits_80_columns(command: str, text: str) -> None:
    for line in text.splitlines():
        assert len(line) <= 80, f"{command}: {len(line)} columns: {line!r}"


def test_plan_and_du_fit_80_columns_in_a_pipe_with_short_digests_and_json_whole(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    scenario = build_scenario(pusher, registry.root)
    env = clean_env(tmp_path, {"COLUMNS": "80"})
    where = ["--registry-dir", str(registry.root)]

    plan = regsweep("plan", "--show-kept", *where, env=env)
    du = regsweep("du", *where, env=env)
    explain = regsweep("explain", "shop/api", *where, env=env)

    for command, done in (("plan", plan), ("du", du), ("explain", explain)):
        assert done.returncode == 0, done.stderr
        assert_fits_80_columns(command, done.stdout)
        assert_fits_80_columns(command, done.stderr)
        assert not LONG_DIGEST.search(done.stdout), command
    assert words_of_the_line_starting(plan.stdout, "action") == PLAN_HEADERS
    assert words_of_the_line_starting(du.stdout, "repository") == [*DU_HEADERS, "reclaimable"]
    for repository, digest in scenario.deleted_manifests:
        assert short(digest) in plan.stdout, (repository, digest)
    # the expired index: its untag and delete rows, and its two children's reasons
    index = regsweep_json("plan", *where, env=env)
    [pr_index] = [a["digest"] for a in index["actions"] if a.get("tag") == "pr-12"]
    assert plan.stdout.count(short(pr_index)) == 4

    # JSON: every digest whole, the reasons' too
    deletes = {a["digest"] for a in index["actions"] if a["action"] == "delete_manifest"}
    assert deletes == {d for _, d in scenario.deleted_manifests}
    assert all(FULL_HEX.fullmatch(a["digest"].removeprefix("sha256:")) for a in index["actions"])
    children = [a for a in index["actions"] if "of deleted index" in a["reason"]]
    assert len(children) == 2
    assert all(a["reason"].endswith(f"of deleted index {pr_index}") for a in children)


def test_two_registries_keep_two_journals_each_record_naming_its_registry(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    """The default journal is per registry; a run without the URL writes to the same one."""
    registries = [registry_factory(), registry_factory()]
    old = time.time() - 60 * 86400
    for registry in registries:
        with Pusher(registry.url) as pusher:
            pusher.push_image("app", "latest")
            build = pusher.push_image("app", "4711")  # a CI build number: it ages
        set_push_time(registry.root, "app", "4711", old)
        set_manifest_time(registry.root, "app", build.digest, old)
    env = clean_env(tmp_path)

    def run(registry: RegistryServer, *url: str) -> Path:
        done = regsweep("run", "--registry-dir", str(registry.root), *url, "--gc", "none", env=env)
        assert done.returncode == 0, done.stderr
        assert not tag_exists(registry.root, "app", "4711")
        [said] = re.findall(r"journal: (\S+)", done.stderr)
        return Path(said)

    first = run(registries[0], "--registry-url", registries[0].url)
    second = run(registries[1], "--registry-url", registries[1].url)
    again = run(registries[0])  # nothing left to delete, still journalled

    journals = tmp_path / "regsweep" / "journals"
    assert sorted(journals.glob("*.jsonl")) == sorted([first, second])
    # each registry's run history (for the brake) sits beside its journal
    assert sorted(journals.glob("*.history.sqlite")) == sorted(
        p.with_suffix(".history.sqlite") for p in (first, second)
    )
    assert again == first
    for path, registry, runs in ((first, registries[0], 2), (second, registries[1], 1)):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["event"] for r in records].count("start") == runs
        assert any(r["event"] == "action" for r in records)
        storage = str(registry.root.resolve())
        assert all(r["registry"]["storage"] == storage for r in records), path
    urls = [r["registry"]["url"] for r in map(json.loads, first.read_text().splitlines())]
    assert set(urls) == {registries[0].url, None}


def test_a_tag_named_like_an_emoji_code_is_printed_as_it_is(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """rich reads ``:1234:`` or ``:100:`` as emoji codes, and ``repo:tag: why`` puts a tag
    between two colons: ``shop:1234:`` came out as ``shop🔢`` (found by the random end-to-end
    test, whose BROKEN lines then named no tag it knew)."""
    image = pusher.push_image("shop", "1234")
    pusher.tag("shop", "100", image)
    blob_path(registry.root, image.layers[0].digest).unlink()  # both tags now broken

    done = regsweep("verify", "--registry-dir", str(registry.root), env=clean_env(tmp_path))

    assert done.returncode == 1, done.stderr
    broken = [line for line in done.stdout.splitlines() if line.startswith("BROKEN")]
    assert sorted(line.split()[1] for line in broken) == ["shop:100:", "shop:1234:"], broken
    assert done.stdout.isascii()
