"""The entry point loads a command only when it runs."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(code: str) -> set[str]:
    """The top-level packages imported by running ``code`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {name.split(".")[0] for name in done.stdout.split()}


def test_help_imports_no_command_dependency() -> None:
    loaded = loaded_after(
        "from regsweep.cli.main import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass"
    )
    assert "click" in loaded
    assert not loaded & {"httpx", "pydantic", "pydantic_settings", "rich", "obstore", "stamina"}


def test_import_regsweep_loads_nothing_until_a_name_is_used() -> None:
    assert "httpx" not in loaded_after("import regsweep")
    assert "httpx" in loaded_after("import regsweep\nregsweep.open_target")
