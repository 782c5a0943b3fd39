"""The registry's access logs, read into events: months of pulls from logs it already wrote.

distribution logs every request twice (registry.md section 6): as a logrus record
(``msg="response completed"`` with ``http.request.method``, ``http.request.uri``,
``http.response.status``; text by default, JSON with ``log.formatter: json``) and as a
combined-log line (``127.0.0.1 - - [07/Dec/2026:23:56:27 +0000] "GET /v2/app/manifests/t1
HTTP/1.1" 200 498 "" "skopeo/1.9.3"``). Both are read, from plain files, gzip files, ``docker
logs`` output (with or without ``--timestamps``) and Docker's ``json-file`` log files. The
same request read twice is one fact: the store keeps the latest of each.

A pull is a ``GET`` or ``HEAD`` of a manifest answered 200. ``HEAD`` counts, although the
registry's notifications have no event for it: a client that only checks whether its
cached copy is current (Kubernetes' ``imagePullPolicy: Always``) is still using the tag. A
push is a ``PUT`` answered 201, a delete a ``DELETE`` answered 202. regsweep's own requests
are skipped (:func:`regsweep.core.pulls.is_own_request`).

Every line with a request, of any kind, also shows the log was being written then: the
first and last such times are the period the file covers.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from regsweep.core import names
from regsweep.core.model import parse_digest
from regsweep.core.pulls import Action, Event, is_own_request

#: ``docker logs --timestamps`` puts the time of each line before it.
_DOCKER_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")
#: ``key=value`` or ``key="quoted value"``, as logrus writes its text format.
_LOGFMT = re.compile(r'([\w.]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))')
_COMBINED = re.compile(
    r'\S+ \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" '
    r'(?P<status>\d{3}) \S+ "[^"]*" "(?P<agent>[^"]*)"'
)
_COMBINED_TIME = "%d/%b/%Y:%H:%M:%S %z"
_MANIFEST_PATH = re.compile(r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)")

#: (method, status) of a request -> what it did to the manifest it names
_ACTIONS = {
    ("GET", 200): Action.PULL,
    ("HEAD", 200): Action.PULL,
    ("PUT", 201): Action.PUSH,
    ("DELETE", 202): Action.DELETE,
}


@dataclass(frozen=True, slots=True)
class Request:
    """One request the registry logged."""

    at: datetime
    method: str
    uri: str
    status: int
    user_agent: str


@dataclass
class LogSummary:
    """What a log holds, reduced to the latest event per (action, repository, reference)."""

    lines: int = 0
    requests: int = 0
    #: the first and last request logged: the period the log covers
    first: datetime | None = None
    last: datetime | None = None
    #: requests read as pulls, pushes and deletes (before reduction)
    counts: dict[Action, int] = field(default_factory=lambda: dict.fromkeys(Action, 0))
    events: dict[tuple[Action, str, str], Event] = field(default_factory=dict)

    def add(self, request: Request) -> None:
        self.requests += 1
        self.first = request.at if self.first is None else min(self.first, request.at)
        self.last = request.at if self.last is None else max(self.last, request.at)
        event = request_event(request)
        if event is None:
            return
        self.counts[event.action] += 1
        key = (event.action, event.repository, event.reference)
        held = self.events.get(key)
        if held is None or event.at > held.at:
            self.events[key] = event


def summarize(lines: Iterable[str]) -> LogSummary:
    """Read every line; lines that are not requests the registry logged are counted only."""
    summary = LogSummary()
    for line in lines:
        summary.lines += 1
        request = parse_line(line)
        if request is not None:
            summary.add(request)
    return summary


def parse_line(line: str) -> Request | None:
    """The request a log line records, in any of the formats above; None for other lines."""
    text = line.strip()
    if _DOCKER_TIMESTAMP.match(text):
        text = text.split(" ", 1)[1]
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        wrapped = record.get("log")
        if isinstance(wrapped, str):  # Docker's json-file driver: the line is inside
            return parse_line(wrapped)
        return _logrus(record)
    if text.startswith("time="):
        return _logrus({key: _unquoted(q) if q else bare for key, q, bare in _LOGFMT.findall(text)})
    match = _COMBINED.match(text)
    if match is None:
        return None
    try:
        at = datetime.strptime(match["time"], _COMBINED_TIME)
    except ValueError:
        return None
    return Request(at, match["method"], match["uri"], int(match["status"]), match["agent"])


def _logrus(record: dict[str, Any]) -> Request | None:
    """A ``response completed`` record (text or JSON); None for the registry's other records."""
    method, uri = record.get("http.request.method"), record.get("http.request.uri")
    status, time = record.get("http.response.status"), record.get("time")
    if not (isinstance(method, str) and isinstance(uri, str) and isinstance(time, str)):
        return None
    try:
        at = datetime.fromisoformat(time)
        code = int(status)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    agent = record.get("http.request.useragent")
    return Request(at, method, uri, code, agent if isinstance(agent, str) else "")


def _unquoted(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\")


def request_event(request: Request) -> Event | None:
    """The pull, push or delete of a manifest a request was; None for anything else."""
    action = _ACTIONS.get((request.method, request.status))
    if action is None or is_own_request(request.user_agent):
        return None
    match = _MANIFEST_PATH.fullmatch(unquote(urlsplit(request.uri).path))
    if match is None or not names.is_repository_name(match["name"]):
        return None
    reference = match["reference"]
    if names.is_tag_name(reference):
        return Event(action, match["name"], reference, request.at)
    try:
        digest = parse_digest(reference)
    except ValueError:
        return None
    return Event(action, match["name"], digest, request.at, digest)


def open_log(path: Path) -> Iterator[str]:
    """The lines of a log file, gunzipped when it is gzip (by its first bytes, not its name:
    rotated logs are named ``.1.gz``, ``-20260101``, or anything). Undecodable bytes are
    replaced: one corrupt line must not hide the rest of the log."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    if compressed:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as unzipped:
            yield from unzipped
    else:
        with path.open(encoding="utf-8", errors="replace") as plain:
            yield from plain
