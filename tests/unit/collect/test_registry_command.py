"""Every refusal to build a collector's or restart's command names its way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from regsweep.collect.registry import gc_command, restart_command
from regsweep.core.errors import UsageError
from tests.support.cli import clean_env, regsweep_in_process
from tests.support.storage import tree_fingerprint
from tests.unit.collect.native.tree import Tree


def test_a_restart_without_a_container_name_names_no_restart_too() -> None:
    """``regsweep gc`` on a stopped copy of the storage has no container to restart."""
    with pytest.raises(UsageError) as caught:
        restart_command(None, name=None, config="c")
    message = str(caught.value)
    assert "DOCKER_REGISTRY_NAME" in message and "--restart-command" in message
    assert "--no-restart" in message


def test_a_collection_without_a_container_name_names_the_other_collectors() -> None:
    with pytest.raises(UsageError) as caught:
        gc_command(None, name=None, config="c")
    assert "--gc-command" in str(caught.value) and "--gc native" in str(caught.value)


@pytest.mark.parametrize(("template", "flag"), [("a 'b", "--gc-command"), ("  ", "--gc-command")])
def test_a_command_that_cannot_be_used_names_its_flag(template: str, flag: str) -> None:
    with pytest.raises(UsageError, match=flag):
        gc_command(template, name="r", config="c")


def test_gc_on_a_stopped_copy_refuses_naming_no_restart(tmp_path: Path) -> None:
    tree = Tree(tmp_path / "copy")
    tree.image("app", "v1")
    before = tree_fingerprint(tree.root)

    done = regsweep_in_process("gc", "--registry-dir", str(tree.root), env=clean_env(tmp_path))

    assert done.returncode == 2 and "--no-restart" in done.stderr
    assert tree_fingerprint(tree.root) == before
