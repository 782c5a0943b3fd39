"""The registry's notification envelopes, read into events (pure).

distribution POSTs ``{"events": [...]}`` to each endpoint of its ``notifications`` config
(``notifications/event.go``). Each event has an ``action`` (``pull``, ``push``, ``delete``),
a ``timestamp`` and a ``target``: ``repository``, ``digest``, ``mediaType`` and, for a
manifest pulled or pushed by tag, ``tag``. A delete names the digest, or the tag for each
tag it removed. Blob events (``mediaType: application/octet-stream``) say nothing about
tags and are skipped; so are regsweep's own reads and actions this version does not know.

An envelope is taken whole or refused whole: the listener then answers 400 and records
nothing, so an envelope is never half recorded.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from regsweep.core import mediatypes, names
from regsweep.core.model import parse_digest
from regsweep.core.pulls import Action, Event, is_own_request

_ACTIONS = frozenset(action.value for action in Action)


class MalformedEnvelopeError(ValueError):
    """The body is not an envelope of events; the message says where and why."""


def read_envelope(body: bytes) -> list[Event]:
    """The manifest events of one envelope; :class:`MalformedEnvelopeError` if it is not one."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEnvelopeError(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise MalformedEnvelopeError('not an envelope: expected {"events": [...]}')
    events = []
    for number, raw in enumerate(document["events"]):
        try:
            event = _event(raw)
        except ValueError as exc:
            raise MalformedEnvelopeError(f"events[{number}]: {exc}") from None
        if event is not None:
            events.append(event)
    return events


def _event(raw: Any) -> Event | None:
    """One event; None for what is not recorded (blobs, unknown actions, regsweep's own)."""
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    target = raw.get("target")
    if not isinstance(target, dict):
        raise ValueError("no target object")
    at = _timestamp(raw.get("timestamp"))
    repository = names.check_repository(_text(target, "repository"))
    tag = names.check_tag(_text(target, "tag")) if "tag" in target else None
    digest = parse_digest(_text(target, "digest")) if "digest" in target else None
    action = raw.get("action")
    if not isinstance(action, str):
        raise ValueError("no action")
    request = raw.get("request")
    if action not in _ACTIONS or (
        isinstance(request, dict) and is_own_request(request.get("useragent"))
    ):
        return None
    if action == Action.DELETE:
        reference = tag or digest
        if reference is None:
            raise ValueError("a delete that names neither a tag nor a digest")
        return Event(Action.DELETE, repository, reference, at, digest)
    if tag is None and not mediatypes.is_known_manifest(str(target.get("mediaType"))):
        return None  # a blob
    if digest is None:
        raise ValueError(f"a manifest {action} without a digest")
    return Event(Action(action), repository, tag or digest, at, digest)


def _text(target: dict[str, Any], key: str) -> str:
    value = target.get(key)
    if not isinstance(value, str):
        raise ValueError(f"target.{key} is not a string")
    return value


def _timestamp(value: Any) -> datetime:
    """An RFC 3339 time with its zone (Go writes nanoseconds; Python keeps microseconds)."""
    if not isinstance(value, str):
        raise ValueError("no timestamp")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"timestamp {value[:40]!r} is not RFC 3339") from None
    if when.tzinfo is None:
        raise ValueError(f"timestamp {value[:40]!r} has no time zone")
    return when
