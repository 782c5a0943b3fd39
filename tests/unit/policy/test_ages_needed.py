"""Which tags need an age to be decided: over the API each age is a config read.

The promise is that leaving out the ages :meth:`Policy.ages_needed` does not name never
changes a decision; the examples say which ages those are.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings

from regsweep.core.model import Digest, Inventory
from regsweep.policy.rules import Policy, decide_tags
from tests.unit.strategies import NOW, digest_of, inventories, policies

LATEST = digest_of("latest")
OLD = digest_of("old")
SIGNATURE = "sha256-" + OLD.removeprefix("sha256:") + ".sig"
TAGS = {"latest": LATEST, "v1.2.0": OLD, "feature-x": OLD, SIGNATURE: OLD}


def needed(policy: Policy, tags: dict[str, Digest] = TAGS) -> frozenset[str]:
    return policy.ages_needed("app", tags, NOW)


def test_a_tag_kept_by_name_needs_no_age() -> None:
    policy = Policy(pushed_within=timedelta(days=30), exclude_tags=re.compile("^latest$"))
    assert needed(policy) == {"v1.2.0", "feature-x", SIGNATURE}


def test_a_tag_on_a_pinned_digest_or_among_the_newest_versions_needs_no_age() -> None:
    policy = Policy(exclude_tags=None, pinned=frozenset({LATEST}), keep_versions=1)
    assert needed(policy) == {"feature-x", SIGNATURE}


def test_ranking_by_age_needs_every_age() -> None:
    """With keep-last, a tag kept by name still takes a place in the ranking."""
    policy = Policy(exclude_tags=re.compile("^latest$"), keep_last=2)
    assert needed(policy) == set(TAGS)


def test_the_pull_rules_rank_by_pulls_and_need_no_age_of_a_tag_kept_by_name() -> None:
    policy = Policy(
        exclude_tags=re.compile("^latest$"),
        pulled_within=timedelta(days=7),
        keep_most_recently_pulled=2,
    )
    assert needed(policy) == {"v1.2.0", "feature-x", SIGNATURE}


def test_an_artifact_tag_always_needs_its_age() -> None:
    policy = Policy(exclude_tags=re.compile("sig$"))
    assert SIGNATURE in needed(policy)


@settings(max_examples=300, deadline=None)
@given(inventories(), policies())
def test_leaving_out_the_ages_no_rule_needs_changes_no_decision(
    inventory: Inventory, policy: Policy
) -> None:
    for repository in inventory.repositories.values():
        tags = {name: tag.digest for name, tag in repository.tags.items()}
        needing = policy.ages_needed(repository.name, tags, NOW)
        unaged = replace(
            repository,
            tags={
                name: tag if name in needing else replace(tag, pushed_at=None)
                for name, tag in repository.tags.items()
            },
        )
        full = {d.tag.name: d.keep for d in decide_tags(repository, policy, NOW)}
        lean = {d.tag.name: d.keep for d in decide_tags(unaged, policy, NOW)}
        assert lean == full
