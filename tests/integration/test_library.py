"""The README's library example, run as written against a real registry's storage."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.support import storage
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario

README = Path(__file__).resolve().parents[2] / "README.md"


def library_example() -> str:
    """The Python block of the README's "Use it as a library" section."""
    section = README.read_text().split("## Use it as a library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the README lost its library example"
    return match.group(1)


def test_the_readme_library_example_plans_and_dry_runs(registry: RegistryServer) -> None:
    with Pusher(registry.url) as pusher:
        scenario = build_scenario(pusher, registry.root)
    before = storage.tree_fingerprint(registry.root)
    code = library_example().replace("/var/lib/registry", str(registry.root))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})  # the README's own code
    untagged = {
        line.split()[1] for line in printed.getvalue().splitlines() if line.startswith("untag ")
    }
    # 14 days and the 3 newest per repository: the scenario's expired tags, no kept one
    assert untagged <= {f"{repo}:{tag}" for repo, tag in scenario.deleted_tags}
    assert untagged, printed.getvalue()
    assert "bytes reclaimable" in printed.getvalue()
    assert storage.tree_fingerprint(registry.root) == before
