"""The entry point loads a command only when it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.collect.native.tree import Tree


def modules_after(code: str) -> set[str]:
    """The modules imported by running ``code`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


def loaded_after(code: str) -> set[str]:
    """The top-level packages imported by running ``code`` in a fresh interpreter."""
    return {name.split(".")[0] for name in modules_after(code)}


def test_help_imports_no_command_dependency() -> None:
    loaded = loaded_after(
        "from regsweep.cli.main import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass"
    )
    assert "click" in loaded
    assert not loaded & {"httpx", "pydantic", "pydantic_settings", "rich", "obstore", "stamina"}


def test_import_regsweep_loads_nothing_until_a_name_is_used() -> None:
    assert "regsweep.pipeline.target" not in modules_after("import regsweep")
    assert "regsweep.pipeline.target" in modules_after("import regsweep\nregsweep.open_target")


@pytest.mark.parametrize(
    "command", [["plan", "--keep-last", "1"], ["du"], ["gc", "--dry-run", "--offline"]]
)
def test_commands_on_storage_load_no_http_client_nor_object_store(
    tmp_path: Path, command: list[str]
) -> None:
    """``plan``, ``du`` and ``gc`` on a local folder: httpx and obstore (about 12 MiB of a
    100 MiB budget at 100,000 blobs) load only where a client or a bucket is opened."""
    tree = Tree(tmp_path / "root")
    tree.image("app", "v1")
    tree.image("app", "v2")
    argv = [*command, "--registry-dir", str(tree.root), "--output", "json"]
    loaded = loaded_after(
        f"from regsweep.cli.main import cli\ncli.main({argv!r}, standalone_mode=False)"
    )
    assert "pydantic_settings" in loaded  # the command and its settings ran
    assert not loaded & {"httpx", "obstore", "prometheus_client"}


def test_a_client_opened_loads_the_http_client() -> None:
    opened = loaded_after(
        "from regsweep.sources.api.access import RegistryAccess\n"
        "from regsweep.sources.api.open import open_registry\n"
        "open_registry(RegistryAccess('http://127.0.0.1:9'))"
    )
    assert {"httpx", "stamina"} <= opened
