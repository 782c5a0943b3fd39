"""``--output json`` writes an iterator as an array while going through it: the text is
the materialised document's, and the first items are written before the last is made
(a dry run's half a million swept blobs are never held as dicts)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from regsweep.cli.terminal import Terminal


def test_an_iterator_is_written_as_the_list_it_yields(capsys: pytest.CaptureFixture[str]) -> None:
    def document(lazy: bool) -> dict[str, object]:
        def items() -> Iterator[dict[str, object]]:
            return ({"digest": f"sha256:{i:064x}", "bytes": i} for i in range(5))

        return {
            "mode": "offline",
            "swept": items() if lazy else list(items()),
            "empty": iter(()) if lazy else [],
            "nested": {"pairs": iter([[1, 2], []]) if lazy else [[1, 2], []]},
            "after": [1],
        }

    Terminal(json_output=True).json(document(lazy=True))
    written = capsys.readouterr().out
    assert written == json.dumps(document(lazy=False), indent=2) + "\n"


def test_items_are_written_before_the_iterator_ends(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []

    def items() -> Iterator[int]:
        for i in range(3):
            seen.append(capsys.readouterr().out)
            yield i

    Terminal(json_output=True).json({"items": items()})
    # once the third item is asked for, the first two are already out
    assert "0" in "".join(seen) and "1" in "".join(seen)


def test_what_json_cannot_encode_still_fails() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        Terminal(json_output=True).json({"blobs": {1, 2}})
