"""Notification envelopes as distribution 2.8.2 sends them (shapes copied from its POSTs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from regsweep.core.model import parse_digest
from regsweep.core.pulls import Action, Event
from regsweep.sources.events.notifications import MalformedEnvelopeError, read_envelope

INDEX = parse_digest("sha256:e523921ed564b0c3112f71081e715a0de119991a5b9e7b3ca0a40aca98c4ef92")
CHILD = parse_digest("sha256:28e1ea3959659de937ad26dd882128f5eb89a6a7f827075adc5c0b2775aafb90")
LAYER = "sha256:e1c80737d1980a6605bede70806386bd3ebb9f28786b936e73d3e008bb1c6c48"
WHEN = "2026-12-07T01:16:17.312491073Z"
AT = datetime(2026, 12, 7, 1, 16, 17, 312491, tzinfo=UTC)


def event(action: str, agent: str = "skopeo/1.9.3", **target: Any) -> dict[str, Any]:
    """An event as the registry writes it; ``target`` replaces the target's fields."""
    return {
        "id": "ad7d452c-015d-4b45-b7d8-a2a6a3c6043f",
        "timestamp": WHEN,
        "action": action,
        "target": {"repository": "team/app", **target},
        "request": {"method": "GET", "useragent": agent, "addr": "127.0.0.1:39256"},
        "actor": {},
        "source": {"addr": "vm:37377"},
    }


def manifest(digest: str, tag: str | None = None) -> dict[str, Any]:
    fields = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest}
    fields["url"] = f"http://127.0.0.1:37377/v2/team/app/manifests/{digest}"
    return {**fields, "tag": tag} if tag else fields


def envelope(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events)}, indent=3).encode()


def test_manifest_pulls_pushes_and_deletes_by_tag_and_by_digest_are_read() -> None:
    body = envelope(
        event("pull", **manifest(INDEX, "multi")),
        event("pull", **manifest(CHILD)),
        event("push", agent="docker/27.0", **manifest(INDEX, "multi")),
        event("delete", digest=INDEX),
        event("delete", tag="multi"),
    )
    assert read_envelope(body) == [
        Event(Action.PULL, "team/app", "multi", AT, INDEX),
        Event(Action.PULL, "team/app", CHILD, AT, CHILD),
        Event(Action.PUSH, "team/app", "multi", AT, INDEX),
        Event(Action.DELETE, "team/app", INDEX, AT, INDEX),
        Event(Action.DELETE, "team/app", "multi", AT, None),
    ]


def test_blobs_regsweeps_own_reads_and_unknown_actions_are_skipped() -> None:
    blob = {"mediaType": "application/octet-stream", "digest": LAYER, "size": 1024}
    body = envelope(
        event("pull", **blob),
        event("push", **blob),
        event("pull", agent="regsweep/0.1.0", **manifest(INDEX, "multi")),
        event("mount", **manifest(INDEX)),
    )
    assert read_envelope(body) == []
    assert read_envelope(b'{"events": []}') == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "not JSON: Expecting value: line 1 column 1"),
        (b"\x80{}", "not JSON: 'utf-8' codec can't decode"),
        (b'{"event": []}', 'not an envelope: expected {"events": [...]}'),
        (b"[]", "not an envelope"),
        (envelope(event("pull", **manifest(INDEX)), 7), "events[1]: not an object"),
        (envelope({**event("pull", **manifest(INDEX)), "timestamp": None}), "no timestamp"),
        (
            envelope({**event("pull", **manifest(INDEX)), "timestamp": "yesterday"}),
            "events[0]: timestamp 'yesterday' is not RFC 3339",
        ),
        (
            envelope({**event("pull", **manifest(INDEX)), "timestamp": "2026-12-07T01:16:17"}),
            "has no time zone",
        ),
        (envelope(event("pull", **manifest("sha256:1234"))), "not a sha256 digest: 'sha256:1234'"),
        (envelope(event("pull", **manifest(INDEX, "../x"))), "invalid tag name '../x'"),
        (envelope({**event("pull"), "target": None}), "no target object"),
        (envelope({**event("pull"), "action": None}), "no action"),
        (envelope(event("delete")), "a delete that names neither a tag nor a digest"),
        (envelope(event("pull", tag="t1")), "a manifest pull without a digest"),
    ],
)
def test_a_malformed_envelope_is_refused_whole_naming_the_event_and_the_problem(
    body: bytes, message: str
) -> None:
    with pytest.raises(MalformedEnvelopeError, match=message.replace("[", r"\[")):
        read_envelope(body)


def test_a_repository_name_outside_the_grammar_is_malformed() -> None:
    with pytest.raises(MalformedEnvelopeError, match="invalid repository name 'Team/App'"):
        read_envelope(envelope({**event("pull"), "target": {"repository": "Team/App"}}))
