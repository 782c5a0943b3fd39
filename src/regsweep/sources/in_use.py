"""Read the image references workloads use: from a file, or from a command's output.

Either way the text is read the same: references separated by whitespace or newlines (one a
line as ``docker ps --format '{{.Image}}'`` prints them, or space-separated as a plain
``kubectl get pods -o jsonpath='{..image}'`` does), blank lines and ``#`` comments ignored.
Any failure is an exit-2 error before anything is deleted: a list of images in use that
could not be read whole must never read as "nothing is in use".
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from regsweep.core.errors import UsageError
from regsweep.core.references import parse_reference
from regsweep.policy.in_use import InUseReference

#: How long the in-use command may take. ``kubectl get pods -A`` answers in seconds even on
#: large clusters; a command still silent after this is hung (an unreachable API server),
#: and a nightly run must end rather than wait for it forever.
IN_USE_COMMAND_TIMEOUT = 120.0


def read_in_use_file(path: Path) -> list[InUseReference]:
    """Every reference in the file ``path`` (``--in-use``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--in-use {path}: cannot read it: {exc}") from None
    return parse_references(text, f"--in-use {path}", source=path.name)


def run_in_use_command(argv: Sequence[str]) -> list[InUseReference]:
    """Every reference the command ``argv`` prints (``--in-use-command``), run without a shell.

    The command must succeed: a ``kubectl`` that lost its cluster prints nothing and exits
    1, and reading that as "no image is in use" would delete what every pod runs.
    """
    shown = shlex.join(argv)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=IN_USE_COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError(f"--in-use-command: {argv[0]} not found; nothing was changed") from None
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"--in-use-command {shown!r} did not finish within {IN_USE_COMMAND_TIMEOUT:.0f}s; "
            "nothing was changed"
        ) from None
    except OSError as exc:
        raise UsageError(f"--in-use-command {shown!r}: {exc}; nothing was changed") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        said = f": {lines[-1]}" if lines else ""
        raise UsageError(
            f"--in-use-command {shown!r} failed with exit {done.returncode}{said}; "
            "nothing was changed"
        )
    return parse_references(done.stdout, f"--in-use-command {shown!r}", source="in-use command")


def parse_references(text: str, origin: str, *, source: str) -> list[InUseReference]:
    """The references in ``text``; an invalid one is an error naming ``origin`` and its line.

    ``source`` is how a reason names where each reference came from.
    """
    references = []
    for number, line in enumerate(text.splitlines(), start=1):
        for word in line.split("#", 1)[0].split():
            try:
                reference = parse_reference(word)
            except ValueError as exc:
                raise UsageError(
                    f"{origin}, line {number}: {word!r} is not an image reference ({exc}); "
                    "expected HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:..."
                ) from None
            references.append(InUseReference(reference, f"{source}:{number}"))
    return references
