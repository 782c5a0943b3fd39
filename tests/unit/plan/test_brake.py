"""The safety brake counts the tags a plan deletes against what the registry holds now."""

from __future__ import annotations

from datetime import UTC, datetime

from regsweep.core.model import Digest, Inventory, Repository, Tag
from regsweep.plan.brake import REGISTRY, BrakeLimits, Excess, check_brake
from regsweep.plan.planner import Action, ActionKind

D = Digest("sha256:" + "a" * 64)
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def registry(**tags_per_repository: int) -> Inventory:
    repositories = {
        name: Repository(name, {f"t{i}": Tag(name, f"t{i}", D, WHEN) for i in range(count)})
        for name, count in tags_per_repository.items()
    }
    return Inventory(repositories, {}, {})


def untags(repository: str, count: int) -> list[Action]:
    return [Action(ActionKind.UNTAG, repository, D, "old", tag=f"t{i}") for i in range(count)]


def test_the_default_brake_is_more_than_half_of_the_registrys_tags() -> None:
    inventory = registry(a=6, b=4)
    limits = BrakeLimits(50.0)
    assert check_brake(untags("a", 5), inventory, limits) == []  # exactly half passes
    (excess,) = check_brake(untags("a", 6), inventory, limits)
    assert (excess.scope, excess.deleting, excess.total) == (REGISTRY, 6, 10)
    assert str(excess) == "the registry: would delete 6 of 10 tags (60%, limit 50%)"


def test_a_per_repository_limit_catches_one_repository_wiped_in_a_big_registry() -> None:
    inventory = registry(small=4, big=96)
    actions = untags("small", 4)
    assert check_brake(actions, inventory, BrakeLimits(50.0)) == []
    (excess,) = check_brake(actions, inventory, BrakeLimits(50.0, repository_percent=75.0))
    assert str(excess) == "repository small: would delete 4 of 4 tags (100%, limit 75%)"


def test_tags_already_gone_do_not_count() -> None:
    """A saved plan applied a second time deletes nothing and must not trip the brake."""
    gone = untags("a", 6)[2:]  # t2..t5: the registry holds only t0 and t1 now
    assert check_brake(gone, registry(a=2), BrakeLimits(50.0, 50.0)) == []
    (excess,) = check_brake(untags("a", 2), registry(a=2), BrakeLimits(50.0))
    assert excess.deleting == 2


def test_manifest_deletes_do_not_count() -> None:
    deletes = [Action(ActionKind.DELETE_MANIFEST, "a", D, "unreferenced", wave=1)] * 9
    assert check_brake(deletes, registry(a=1), BrakeLimits(0.0, 0.0)) == []


def test_every_repository_over_its_limit_is_named_in_name_order() -> None:
    """6 of 16 tags is 37.5%, under the registry's limit; a (3 of 3) and b (2 of 3) are over
    50% each, c (1 of 10) is not. Untags of a repository the registry no longer has count
    nowhere."""
    inventory = registry(b=3, a=3, c=10)
    actions = untags("b", 2) + untags("a", 3) + untags("c", 1) + untags("deleted-since", 4)

    excesses = check_brake(actions, inventory, BrakeLimits(100.0, repository_percent=50.0))

    assert excesses == [Excess("a", 3, 3, 50.0), Excess("b", 2, 3, 50.0)]
    assert excesses[1].percent == 200 / 3
    assert str(excesses[1]) == "repository b: would delete 2 of 3 tags (67%, limit 50%)"


def test_a_fractional_limit_is_shown_as_given() -> None:
    (excess,) = check_brake(untags("a", 3), registry(a=16), BrakeLimits(12.5))

    assert str(excess) == "the registry: would delete 3 of 16 tags (19%, limit 12.5%)"


def test_an_empty_registry_never_trips_the_brake() -> None:
    assert check_brake(untags("a", 3), registry(), BrakeLimits(0.0, 0.0)) == []
