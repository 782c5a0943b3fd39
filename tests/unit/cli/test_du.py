"""``regsweep du`` as text: eight columns in 80, headers whole, figures never broken."""

from __future__ import annotations

import io
import re

from rich.console import Console

from regsweep.cli.du import render_usage
from regsweep.plan.usage import RepositoryUsage, Usage

GB = 1000**3
HEADERS = ["repository", "policy", "tags", "manifests", "total", "unique", "shared", "reclaimable"]


def test_the_usage_table_fits_80_columns_with_long_names_and_large_figures() -> None:
    """The widest case: long names, five-digit counts, sizes of 8 characters (123.4 GB)."""
    usage = Usage(
        repositories=(
            RepositoryUsage(
                "platform/team-payments/settlement-reconciliation-worker",
                "releases-and-branches",
                12345,
                67890,
                123_400_000_000,
                999_900_000,
                122_400_100_000,
                100 * GB,
            ),
            RepositoryUsage("tools/ci/runner", None, 2, 2, 18_700, 6_300, 12_400, 0),
        ),
        bytes_stored=150 * GB,
        bytes_reclaimable=100 * GB,
        bytes_unreferenced=0,
    )
    console = Console(file=io.StringIO(), width=80)  # not a terminal: as in a pipe

    render_usage(console, usage)
    text = console.file.getvalue()
    assert isinstance(text, str)
    lines = text.splitlines()

    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if line.startswith("repository"))
    assert re.findall(r"[a-z]+", header) == HEADERS
    for figure in ("12345", "67890", "123.4 GB", "999.9 MB", "122.4 GB", "100.0 GB", "0 bytes"):
        assert figure in text
    assert "(none: left" in text  # a repository no policy covers says so
