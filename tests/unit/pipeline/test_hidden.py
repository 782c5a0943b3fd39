"""Runs refuse to delete when discovery skipped something in the repositories' metadata."""

from __future__ import annotations

import pytest

from regsweep.core.errors import UsageError
from regsweep.core.model import Inventory, Problem
from regsweep.pipeline.hidden import refuse_hidden_references

TAG_LINK = Problem(
    "docker/registry/v2/repositories/app/_manifests/tags/v1/current/link",
    "link file holds no digest",
)
SYMLINKED_REVISION = Problem(
    "docker/registry/v2/repositories/team/app/_manifests/revisions/sha256/ab",
    "symlinked folder, not followed",
)
STRAY_BLOB = Problem("docker/registry/v2/blobs/sha256/zz", "not a blob folder")


def inventory(*problems: Problem) -> Inventory:
    return Inventory({}, {}, {}, problems=problems)


def test_a_skipped_tag_or_revision_stops_the_run_naming_the_first_and_counting_the_rest() -> None:
    with pytest.raises(UsageError) as caught:
        refuse_hidden_references(inventory(STRAY_BLOB, TAG_LINK, SYMLINKED_REVISION))

    assert str(caught.value) == (
        "cannot delete safely: docker/registry/v2/repositories/app/_manifests/tags/v1/current/"
        "link: link file holds no digest and 1 more; what discovery cannot read may hide a tag "
        "or an index that keeps manifests the plan would delete. Fix or remove it (regsweep "
        "plan lists every problem); nothing was changed"
    )


def test_one_problem_is_named_alone() -> None:
    with pytest.raises(UsageError, match=r"symlinked folder, not followed; what discovery"):
        refuse_hidden_references(inventory(SYMLINKED_REVISION))


def test_problems_outside_the_repositories_hide_no_reference() -> None:
    """A stray file among the blobs cannot keep a manifest alive: the run goes ahead."""
    refuse_hidden_references(inventory(STRAY_BLOB))
    refuse_hidden_references(inventory())
