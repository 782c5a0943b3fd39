"""The run's decisions about damage: --strict refuses it all, the registry's GC is refused
when damage stops it, and a plan file loses its actions in repositories damaged now."""

from __future__ import annotations

import pytest

from regsweep.collect.options import CollectOptions, Collector
from regsweep.core.damage import Defect
from regsweep.core.errors import UsageError
from regsweep.core.model import Digest, Inventory, Problem, Repository
from regsweep.pipeline.damage import refuse_damage, refuse_uncollectable, skip_damaged
from regsweep.plan.planner import Action, ActionKind, Plan, Summary

DIGEST = Digest("sha256:" + "ab" * 32)
TAG_LINK = Problem(
    "docker/registry/v2/repositories/app/_manifests/tags/v1/current/link",
    "link file holds no digest",
    Defect.TAG_LINK,
    "app",
    "v1",
)
EMPTY_REVISION = Problem(
    f"docker/registry/v2/repositories/team/app/_manifests/revisions/sha256/{'ab' * 32}/link",
    "revision link: not a sha256 digest: ''",
    Defect.REVISION_LINK,
    "team/app",
    DIGEST,
)
LAYER_LINK = Problem(
    f"docker/registry/v2/repositories/web/_layers/sha256/{'ab' * 32}/link",
    "layer link holds no digest (7 bytes)",
    Defect.LAYER_LINK,
    "web",
    DIGEST,
)
STRAY_BLOB = Problem("docker/registry/v2/blobs/sha256/zz", "not a blob folder", Defect.STRAY)
REGISTRY_GC = CollectOptions(Collector.REGISTRY, ("gc",))


def inventory(*problems: Problem) -> Inventory:
    return Inventory({}, {}, {}, problems=problems)


def test_strict_refuses_anything_skipped_in_the_repositories_naming_its_way_out() -> None:
    with pytest.raises(UsageError) as caught:
        refuse_damage(inventory(STRAY_BLOB, TAG_LINK, LAYER_LINK))

    assert str(caught.value) == (
        "--strict: docker/registry/v2/repositories/app/_manifests/tags/v1/current/link: link "
        "file holds no digest (and 1 more); nothing was changed. Repair or remove it "
        "(regsweep plan lists every problem), or run without --strict to clean every other "
        "repository"
    )


def test_strict_lets_a_registry_with_problems_only_outside_its_repositories_through() -> None:
    refuse_damage(inventory(STRAY_BLOB))
    refuse_damage(inventory())


def test_damage_that_stops_the_registry_gc_refuses_it_and_names_the_file_and_native() -> None:
    with pytest.raises(UsageError) as caught:
        refuse_uncollectable(inventory(TAG_LINK, EMPTY_REVISION), REGISTRY_GC)

    message = str(caught.value)
    assert message.startswith(f"the registry's garbage-collect stops on {EMPTY_REVISION}, ")
    assert "nothing was changed" in message and "--gc native" in message
    assert "\n" not in message


@pytest.mark.parametrize("collector", [Collector.NATIVE, Collector.NONE])
def test_other_collectors_are_not_refused(collector: Collector) -> None:
    refuse_uncollectable(inventory(EMPTY_REVISION), CollectOptions(collector))


def test_damage_the_registry_gc_survives_lets_it_run() -> None:
    """A tag link or a layer link holding garbage: the registry's GC reads neither."""
    refuse_uncollectable(inventory(TAG_LINK, LAYER_LINK, STRAY_BLOB), REGISTRY_GC)


def _untag(repository: str) -> Action:
    return Action(ActionKind.UNTAG, repository, DIGEST, "expired", tag="old")


def test_a_plan_file_loses_the_actions_of_repositories_damaged_now() -> None:
    actions = (_untag("app"), _untag("web"), _untag("other"))
    summary = Summary(3, 3, 3, 3, 0, 0, 0, 0)
    plan = Plan(actions, summary)
    found = Inventory(
        {"app": Repository("app"), "web": Repository("web"), "other": Repository("other")},
        {},
        {},
        problems=(TAG_LINK, LAYER_LINK, EMPTY_REVISION),
    )

    isolated = skip_damaged(plan, found)

    # app: damage that hides a manifest; web: a layer link hides nothing; team/app: damaged
    # but the plan has nothing there
    assert [a.repository for a in isolated.actions] == ["web", "other"]
    assert [s.repository for s in isolated.skipped] == ["app"]
    assert isolated.summary.tags_to_delete == 2
    assert isolated.summary.repositories_skipped == 1
    assert skip_damaged(plan, inventory()) == plan
    assert isolated.problems == found.problems  # what the run knew of before it began
