"""Plans as text: short digests, whole headers, 80 columns, the user's regexes verbatim."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
from rich.console import Console

from regsweep.cli.render import abbreviate_digests, render_plan
from regsweep.core import mediatypes
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest, Repository, Tag
from regsweep.plan.planner import build_plan
from regsweep.policy.rules import Policy, PolicySet
from tests.unit.strategies import NOW, digest_of

INDEX = digest_of("index")
CHILD = digest_of("child")
FULL_HEX = re.compile(r"[0-9a-f]{64}")


def short(digest: Digest) -> str:
    """What docker prints of a digest: ``sha256:`` and 12 hex digits."""
    return digest[: len("sha256:") + 12]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"linux/amd64 of deleted index {INDEX}", f"linux/amd64 of deleted index {short(INDEX)}"),
        (f"{INDEX} and {CHILD}.", f"{short(INDEX)} and {short(CHILD)}."),
        (INDEX, short(INDEX)),
        # a cosign tag is a name: cut, it would name another tag
        (f"sha256-{INDEX[7:]}.sig", f"sha256-{INDEX[7:]}.sig"),
        # not digests: one hex digit short, one too many
        (INDEX[:-1], INDEX[:-1]),
        (f"{INDEX}0", f"{INDEX}0"),
        ("pushed 40d ago; kept by no rule of policy default", None),
    ],
)
def test_text_shows_digests_with_12_hex_digits(text: str, shown: str | None) -> None:
    assert abbreviate_digests(text) == (text if shown is None else shown)


def rendered(console_width: int) -> str:
    """An expired multi-arch build with a long tag in a long repository, and a release kept
    by a regex with a character class, rendered as ``regsweep plan --show-kept`` does into
    a file (not a terminal, as in a pipe or a cron log)."""
    name = "platform/team-payments/settlement-reconciliation-worker"
    child = Manifest(
        CHILD,
        mediatypes.OCI_MANIFEST,
        500,
        config=Descriptor(mediatypes.OCI_CONFIG, digest_of("config"), 10),
        layers=(Descriptor("layer", digest_of("layer"), 1000),),
    )
    index = Manifest(
        INDEX,
        mediatypes.OCI_INDEX,
        300,
        children=(Descriptor(child.media_type, CHILD, 500, platform="linux/amd64"),),
    )
    release = Manifest(digest_of("release"), mediatypes.OCI_MANIFEST, 500, layers=child.layers)
    old = NOW - timedelta(days=90)
    tags = {
        "renovate-configure-lodash-4.17.21-and-friends": Tag(
            name, "renovate-configure-lodash-4.17.21-and-friends", INDEX, old
        ),
        "1.2.3": Tag(name, "1.2.3", release.digest, old),
    }
    revisions: dict[Digest, datetime | None] = {d: old for d in (INDEX, CHILD, release.digest)}
    manifests = {m.digest: m for m in (index, child, release)}
    sizes = {d: 1000 for m in manifests.values() for d in m.blob_references()}
    inventory = Inventory(
        {name: Repository(name, tags, revisions)},
        manifests,
        {**sizes, **{d: m.size for d, m in manifests.items()}},
    )
    policy = Policy(exclude_tags=re.compile(r"^[vV]?[0-9]+\.[0-9]+\.[0-9]+$"))
    plan = build_plan(inventory, PolicySet.of(policy), NOW)
    # the planner's reasons carry whole digests, for JSON: only the text shortens them
    assert any(INDEX in action.reason for action in plan.actions)
    console = Console(file=io.StringIO(), width=console_width)
    render_plan(console, plan, show_kept=True)
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


def test_a_plan_fits_80_columns_with_whole_headers_and_short_digests() -> None:
    text = rendered(80)
    lines = text.splitlines()

    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "action" in line)
    assert re.findall(r"[a-z]+", header) == ["action", "tag", "digest", "reason"]
    assert not FULL_HEX.search(text)
    # the digest column never breaks: the untag and the delete of the index name it whole
    assert sum(short(INDEX) in line for line in lines) >= 2
    assert any(short(CHILD) in line for line in lines)


def test_reasons_name_digests_short_and_regexes_as_written() -> None:
    """Wide enough for one line per row: what a reason says, exactly."""
    text = rendered(200)
    assert f"linux/amd64 of deleted index {short(INDEX)} " in text
    # [vV] is not markup: rich would have taken it for a style and dropped it
    assert r"matches /^[vV]?[0-9]+\.[0-9]+\.[0-9]+$/ " in text
