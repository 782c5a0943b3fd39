"""verify_inventory on hand-built inventories: what a pull needs, and each way it is missing.

Discovery is left out on purpose (the integration tests verify real registries after real
runs): each inventory here is written so that exactly the problems listed are in it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regsweep.core import mediatypes
from regsweep.core.damage import Defect
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest, Problem, Repository, Tag
from regsweep.verify import VerifyProblem, verify_inventory

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


def digest(char: str) -> Digest:
    return Digest("sha256:" + char * 64)


AMD, ARM, MULTI, CONFIG, LAYER_1, LAYER_2 = (digest(c) for c in "123456")


def image(manifest: Digest, config: Digest = CONFIG, *layers: Descriptor) -> Manifest:
    return Manifest(
        manifest,
        mediatypes.OCI_MANIFEST,
        500,
        config=Descriptor(mediatypes.OCI_CONFIG, config, 10),
        layers=layers or (Descriptor(LAYER, LAYER_1, 100),),
    )


def index(manifest: Digest, *children: tuple[Digest, str | None]) -> Manifest:
    return Manifest(
        manifest,
        mediatypes.OCI_INDEX,
        300,
        children=tuple(Descriptor(mediatypes.OCI_MANIFEST, d, 500, p) for d, p in children),
    )


def repository(
    name: str, tags: dict[str, Digest], revisions: set[Digest], layers: set[Digest]
) -> Repository:
    return Repository(
        name,
        {tag: Tag(name, tag, target, WHEN) for tag, target in tags.items()},
        dict.fromkeys(revisions, WHEN),
        tuple(sorted(layers)),
    )


def inventory(
    *repositories: Repository, manifests: list[Manifest], blobs: set[Digest]
) -> Inventory:
    return Inventory(
        {r.name: r for r in repositories},
        {m.digest: m for m in manifests},
        dict.fromkeys(blobs, 1),
    )


def messages(report_problems: list[VerifyProblem]) -> list[str]:
    return sorted(str(p) for p in report_problems)


def test_an_image_with_everything_in_place_pulls() -> None:
    report = verify_inventory(
        inventory(
            repository("app", {"v1": AMD}, {AMD}, {CONFIG, LAYER_1}),
            manifests=[image(AMD)],
            blobs={AMD, CONFIG, LAYER_1},
        )
    )

    assert report.ok
    assert (report.tags_checked, report.manifests_checked) == (1, 1)
    assert report.to_json() == {
        "tags_checked": 1,
        "manifests_checked": 1,
        "problems": [],
        "unverified": [],
    }


def test_each_way_a_platform_of_an_index_can_be_broken_is_reported_with_its_platform() -> None:
    """amd64's only layer is gone from storage; arm64 is no revision of the repository; a
    third child without a platform is named by its digest, and its config is stored but
    not linked into the repository."""
    bare = digest("7")
    broken_multi = index(MULTI, (AMD, "linux/amd64"), (ARM, "linux/arm64"), (bare, None))
    report = verify_inventory(
        inventory(
            repository("app", {"1.0": MULTI}, {MULTI, AMD, bare}, {LAYER_1}),
            manifests=[broken_multi, image(AMD), image(ARM), image(bare)],
            blobs={MULTI, AMD, ARM, bare, CONFIG},
        )
    )

    assert not report.ok
    assert messages(report.problems) == sorted(
        [
            f"app:1.0: blob {LAYER_1} (platform linux/amd64) is missing from storage",
            f"app:1.0: blob {CONFIG} (platform linux/amd64) is not linked into the repository",
            f"app:1.0: manifest {ARM} (platform linux/arm64) is not in the repository",
            f"app:1.0: blob {CONFIG} (platform {bare}) is not linked into the repository",
            f"app:1.0: blob {LAYER_1} (platform {bare}) is missing from storage",
        ]
    )
    assert report.manifests_checked == 3  # the index, amd64 and the bare child


def test_a_tag_whose_manifest_is_gone_or_unreadable_is_reported_once() -> None:
    unreadable = digest("8")
    report = verify_inventory(
        inventory(
            repository("app", {"gone": AMD, "garbled": unreadable}, {unreadable}, set()),
            manifests=[image(AMD)],
            blobs={AMD, CONFIG, LAYER_1, unreadable},
        )
    )

    assert messages(report.problems) == [
        f"app:garbled: manifest {unreadable} is missing or unreadable",
        f"app:gone: manifest {AMD} is not in the repository",
    ]
    assert (report.tags_checked, report.manifests_checked) == (2, 0)


def test_a_foreign_layer_is_never_looked_for_in_storage() -> None:
    """Windows base layers are pulled from Microsoft, not from the registry."""
    windows = image(AMD, CONFIG, Descriptor(FOREIGN_LAYER, LAYER_2, 100))
    report = verify_inventory(
        inventory(
            repository("win", {"ltsc": AMD}, {AMD}, {CONFIG}),
            manifests=[windows],
            blobs={AMD, CONFIG},
        )
    )

    assert report.ok


def test_a_manifest_is_checked_once_per_repository_however_many_tags_name_it() -> None:
    """Two tags on one image, and the same image in a second repository whose layer link is
    missing: the problem is the second repository's, once."""
    report = verify_inventory(
        inventory(
            repository("app", {"latest": AMD, "v1": AMD}, {AMD}, {CONFIG, LAYER_1}),
            repository("mirror", {"v1": AMD}, {AMD}, {CONFIG}),
            manifests=[image(AMD)],
            blobs={AMD, CONFIG, LAYER_1},
        )
    )

    assert (report.tags_checked, report.manifests_checked) == (3, 2)
    assert report.to_json()["problems"] == [
        {
            "repository": "mirror",
            "tag": "v1",
            "message": f"blob {LAYER_1} is not linked into the repository",
        }
    ]


def test_a_platform_listed_twice_is_checked_once() -> None:
    doubled = index(MULTI, (AMD, "linux/amd64"), (AMD, "linux/amd64"))
    report = verify_inventory(
        inventory(
            repository("app", {"1.0": MULTI}, {MULTI}, {CONFIG, LAYER_1}),
            manifests=[doubled, image(AMD)],
            blobs={MULTI, AMD, CONFIG, LAYER_1},
        )
    )

    assert messages(report.problems) == [
        f"app:1.0: manifest {AMD} (platform linux/amd64) is not in the repository"
    ]


def test_an_empty_registry_checks_nothing_and_is_fine() -> None:
    report = verify_inventory(
        inventory(repository("app", {}, set(), set()), manifests=[], blobs=set())
    )

    assert report.ok and (report.tags_checked, report.manifests_checked) == (0, 0)


# -- damage: verify sees what the registry sees ---------------------------------------------

REVISION_LINK = "docker/registry/v2/repositories/app/_manifests/revisions/sha256/1/link"
BLOB = "docker/registry/v2/blobs/sha256/11/1/data"


def test_a_tag_over_an_empty_revision_link_is_broken_naming_the_link() -> None:
    """The registry answers 500 for it, however whole the manifest blob is."""
    repo = repository("app", {"v1": AMD}, {AMD}, {CONFIG, LAYER_1})
    found = inventory(repo, manifests=[image(AMD)], blobs={AMD, CONFIG, LAYER_1})
    damaged = Inventory(
        found.repositories,
        found.manifests,
        found.blob_sizes,
        problems=(
            Problem(REVISION_LINK, "revision link: empty", Defect.REVISION_LINK, "app", AMD),
        ),
    )

    report = verify_inventory(damaged)

    assert not report.ok
    assert [(p.repository, p.tag) for p in report.problems] == [("app", "v1")]
    assert REVISION_LINK in report.problems[0].message
    assert f"write {AMD} into it" in report.problems[0].message


@pytest.mark.parametrize(
    ("defect", "answer"),
    [(Defect.MANIFEST_UNPARSEABLE, "500"), (Defect.MANIFEST_MISSING, "404")],
)
def test_a_tag_whose_manifest_is_cut_short_or_missing_is_broken_naming_the_blob(
    defect: Defect, answer: str
) -> None:
    repo = repository("app", {"v1": AMD}, {AMD}, {CONFIG, LAYER_1})
    problem = Problem(BLOB, "manifest does not parse", defect, "app", AMD)
    damaged = Inventory({"app": repo}, {}, {CONFIG: 10, LAYER_1: 10}, problems=(problem,))

    report = verify_inventory(damaged)

    assert [p.tag for p in report.problems] == ["v1"]
    assert BLOB in report.problems[0].message and answer in report.problems[0].message


def test_an_unreadable_tag_link_is_a_broken_tag() -> None:
    link = "docker/registry/v2/repositories/app/_manifests/tags/v2/current/link"
    problem = Problem(link, "tag skipped: empty", Defect.TAG_LINK, "app", "v2")
    damaged = Inventory({"app": repository("app", {}, set(), set())}, {}, {}, problems=(problem,))

    report = verify_inventory(damaged)

    assert report.tags_checked == 1
    assert [(p.tag, link in p.message) for p in report.problems] == [("v2", True)]


def test_a_garbage_layer_link_breaks_the_tags_that_need_its_blob() -> None:
    link = f"docker/registry/v2/repositories/app/_layers/sha256/{LAYER_1[7:]}/link"
    problem = Problem(link, "layer link holds no digest", Defect.LAYER_LINK, "app", LAYER_1)
    repo = repository("app", {"v1": AMD}, {AMD}, {CONFIG})
    found = inventory(repo, manifests=[image(AMD)], blobs={AMD, CONFIG, LAYER_1})

    report = verify_inventory(
        Inventory(found.repositories, found.manifests, found.blob_sizes, problems=(problem,))
    )

    assert [p.tag for p in report.problems] == ["v1"]
    assert link in report.problems[0].message


def test_what_regsweep_does_not_follow_is_listed_as_not_verified() -> None:
    symlinked = Problem(
        "docker/registry/v2/repositories/team", "symlink", Defect.REPOSITORY_SYMLINK, "team"
    )
    stray = Problem("docker/registry/v2/repositories/app/x", "stray", Defect.STRAY, "app")
    report = verify_inventory(Inventory({}, {}, {}, problems=(symlinked, stray)))

    assert report.problems == [] and report.unverified == [symlinked]
    assert not report.ok
