"""Every policy example in docs/policies.md parses and plans exactly as its table says.

The examples and their expected decisions are read from the markdown itself, so the page
cannot drift from the code: editing an example or a table row changes what is tested.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.core import mediatypes
from regsweep.core.errors import UsageError
from regsweep.core.model import Digest, Inventory, Manifest, Repository, Tag, parse_digest
from regsweep.core.pulls import Fact, History, Span, with_activity
from regsweep.plan.planner import build_plan
from regsweep.policy.file import parse_policies
from regsweep.policy.rules import Policy, PolicySet

DOC = Path(__file__).resolve().parents[3] / "docs" / "policies.md"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Row:
    repository: str
    tag: str
    pushed_at: datetime | None
    digest: Digest
    keep: bool
    #: the ``pulled`` column: a last pull, None for ``none``; absent: no pull store
    pulled_at: datetime | None = None
    pulls: bool = False


@dataclass(frozen=True)
class Example:
    language: str
    text: str
    line: int
    rows: tuple[Row, ...]

    @property
    def path(self) -> Path:
        return Path(f"docs-example-line-{self.line}.{self.language}")

    def __str__(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Mistake:
    language: str
    text: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"line-{self.line}"


def _pushed(cell: str, unknown: str = "unknown") -> datetime | None:
    if cell == unknown:
        return None
    match = re.fullmatch(r"(\d+)d ago", cell)
    assert match, f"cell {cell!r} is not 'Nd ago' or {unknown!r}"
    return NOW - timedelta(days=int(match.group(1)))


def _table(markdown: str) -> tuple[Row, ...]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    if not lines:
        return ()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        repository, tag = cells["repository"], cells["tag"]
        digest = (
            cells.get("digest")
            or "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
        )
        verdict = cells["decision"].split(":")[0].strip()
        assert verdict in ("keep", "delete"), f"decision {cells['decision']!r}"
        pulls = "pulled" in cells
        pulled_at = _pushed(cells["pulled"], unknown="none") if pulls else None
        pushed_at = _pushed(cells["pushed"])
        keep = verdict == "keep"
        rows.append(Row(repository, tag, pushed_at, parse_digest(digest), keep, pulled_at, pulls))
    return tuple(rows)


def _read_doc() -> tuple[list[Example], list[Mistake]]:
    text = DOC.read_text(encoding="utf-8")
    blocks = list(_FENCE.finditer(text))
    examples, mistakes = [], []
    for i, block in enumerate(blocks):
        language, body = block.group(1), block.group(2)
        if language not in ("yaml", "toml"):
            continue
        line = text.count("\n", 0, block.start()) + 1
        if body.startswith("# invalid"):
            following = blocks[i + 1]
            assert following.group(1) == "text", f"line {line}: no error block after it"
            mistakes.append(Mistake(language, body, line, following.group(2).strip()))
        else:
            end = blocks[i + 1].start() if i + 1 < len(blocks) else len(text)
            examples.append(Example(language, body, line, _table(text[block.end() : end])))
    return examples, mistakes


EXAMPLES, MISTAKES = _read_doc()


def test_the_page_has_examples_in_both_formats_and_mistakes() -> None:
    assert len(EXAMPLES) >= 5
    assert {e.language for e in EXAMPLES} == {"yaml", "toml"}
    assert len(MISTAKES) >= 8


def _inventory(rows: tuple[Row, ...]) -> Inventory:
    repositories: dict[str, Repository] = {}
    manifests: dict[Digest, Manifest] = {}
    for row in rows:
        repository = repositories.get(row.repository) or Repository(row.repository)
        tags = {**repository.tags, row.tag: Tag(row.repository, row.tag, row.digest, row.pushed_at)}
        revisions = {**repository.revisions, row.digest: row.pushed_at}
        repositories[row.repository] = Repository(row.repository, tags, revisions)
        manifests[row.digest] = Manifest(row.digest, mediatypes.OCI_MANIFEST, 100)
    inventory = Inventory(repositories, manifests, {d: 100 for d in manifests})
    if not any(row.pulls for row in rows):
        return inventory
    # a table with a ``pulled`` column: a pull store that saw every pull for a year
    pulls = {
        (row.repository, row.tag): Fact(row.pulled_at, "notifications", row.tag)
        for row in rows
        if row.pulled_at is not None
    }
    history = History(Span(NOW - timedelta(days=365), NOW), pulls)
    return with_activity(inventory, history, age_by_push=False)


def _plan_keeps(rows: tuple[Row, ...], policies: PolicySet) -> dict[tuple[str, str], bool]:
    plan = build_plan(_inventory(rows), policies, NOW)
    untagged = {(a.repository, a.tag) for a in plan.untags}
    deleted = {(a.repository, a.digest) for a in plan.manifest_deletes}
    for row in rows:  # a deleted tag takes its manifest along, a kept one never does
        assert ((row.repository, row.digest) in deleted) == (not row.keep)
    return {(r.repository, r.tag): (r.repository, r.tag) not in untagged for r in rows}


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_example_parses_and_plans_as_its_table_says(example: Example) -> None:
    policies = parse_policies(example.text.encode(), example.path)
    assert example.rows, f"{example}: every example needs a table of decisions below it"
    expected = {(r.repository, r.tag): r.keep for r in example.rows}
    assert _plan_keeps(example.rows, policies) == expected


def test_the_defaults_example_is_the_policy_of_the_environment_defaults() -> None:
    (example,) = [e for e in EXAMPLES if "name: default" in e.text]
    from_file = _plan_keeps(example.rows, parse_policies(example.text.encode(), example.path))
    assert _plan_keeps(example.rows, PolicySet.of(Policy())) == from_file


@pytest.mark.parametrize("mistake", MISTAKES, ids=str)
def test_every_documented_mistake_gives_the_documented_error(mistake: Mistake) -> None:
    path = Path(f"policies.{mistake.language}")
    with pytest.raises(UsageError) as raised:
        parse_policies(mistake.text.encode(), path)
    assert str(raised.value) == f"policy file {path}: {mistake.message}"
