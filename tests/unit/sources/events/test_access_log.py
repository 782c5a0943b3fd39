"""Access-log lines, in every format distribution 2.8.2 and Docker write them.

The lines are copied from the registry under test (log level info; text, then JSON with
``log.formatter: json``); the integration tests import whole logs it wrote.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from regsweep.core.model import parse_digest
from regsweep.core.pulls import Action, Event
from regsweep.sources.events.access_log import Request, open_log, parse_line, summarize

DIGEST = parse_digest("sha256:28e1ea3959659de937ad26dd882128f5eb89a6a7f827075adc5c0b2775aafb90")
LOGRUS = (
    'time="2026-12-07T01:16:16.739761878Z" level=info msg="response completed" '
    'go.version=go1.19.8 http.request.host="127.0.0.1:37377" '
    "http.request.id=48c8274a-1733-4ca8-95e8-2810464669e7 http.request.method=GET "
    'http.request.remoteaddr="127.0.0.1:39234" '
    f'http.request.uri="/v2/team/app/manifests/{DIGEST}" http.request.useragent=skopeo/1.9.3 '
    "http.response.contenttype=application/vnd.docker.distribution.manifest.v2+json "
    "http.response.duration=1.443394ms http.response.status=200 http.response.written=585"
)
JSON = json.dumps(
    {
        "go.version": "go1.19.8",
        "http.request.method": "PUT",
        "http.request.uri": "/v2/team/app/manifests/t1",
        "http.request.useragent": "python-httpx/0.29.0",
        "http.response.status": 201,
        "level": "info",
        "msg": "response completed",
        "time": "2026-12-07T01:21:59.452959488Z",
    }
)
COMBINED = (
    '127.0.0.1 - - [07/Dec/2026:01:16:17 +0000] "GET /v2/team/app/manifests/multi HTTP/1.1" '
    '200 511 "" "skopeo/1.9.3"'
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_registrys_text_json_and_combined_lines_are_read() -> None:
    assert parse_line(LOGRUS) == Request(
        at("2026-12-07T01:16:16.739761Z"),
        "GET",
        f"/v2/team/app/manifests/{DIGEST}",
        200,
        "skopeo/1.9.3",
    )
    assert parse_line(JSON) == Request(
        at("2026-12-07T01:21:59.452959Z"),
        "PUT",
        "/v2/team/app/manifests/t1",
        201,
        "python-httpx/0.29.0",
    )
    assert parse_line(COMBINED) == Request(
        datetime(2026, 12, 7, 1, 16, 17, tzinfo=UTC),
        "GET",
        "/v2/team/app/manifests/multi",
        200,
        "skopeo/1.9.3",
    )


def test_docker_logs_with_timestamps_and_dockers_json_file_lines_are_unwrapped() -> None:
    expected = parse_line(COMBINED)
    assert parse_line(f"2026-12-07T01:16:17.312491073Z {COMBINED}") == expected
    wrapped = json.dumps({"log": f"{COMBINED}\n", "stream": "stdout", "time": "2026-12-07T01:16Z"})
    assert parse_line(wrapped) == expected
    assert parse_line(json.dumps({"log": JSON + "\n", "stream": "stderr"})) == parse_line(JSON)


@pytest.mark.parametrize(
    "line",
    [
        'time="2026-12-07T01:16:16.192444853Z" level=info msg="listening on 127.0.0.1:37377"',
        '{"level":"info","msg":"redis not configured","time":"2026-12-07T01:21:59.09Z"}',
        "panic: runtime error",
        "",
        "{not json",
        "[1, 2]",
        '127.0.0.1 - - [yesterday] "GET /v2/ HTTP/1.1" 200 2 "" "curl"',
        'time="not a time" http.request.method=GET http.request.uri=/v2/ http.response.status=200',
    ],
)
def test_other_lines_are_not_requests(line: str) -> None:
    assert parse_line(line) is None


def test_a_log_is_reduced_to_the_latest_fact_of_each_kind_with_the_period_it_covers() -> None:
    lines = [
        'time="2026-12-07T01:16:16.192444853Z" level=info msg="listening on 127.0.0.1:37377"',
        '127.0.0.1 - - [07/Dec/2026:01:00:00 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/8"',
        COMBINED,
        COMBINED.replace("01:16:17", "01:10:00"),  # an earlier pull of the same tag
        COMBINED.replace('"GET', '"HEAD'),  # a client checking its cached copy: a pull
        COMBINED.replace(" 200 ", " 404 "),  # a pull that failed: not a pull
        COMBINED.replace("skopeo/1.9.3", "regsweep/0.1.0").replace("multi", "ci"),
        COMBINED.replace("/manifests/multi", f"/blobs/{DIGEST}"),  # a blob: says nothing
        COMBINED.replace("/v2/team/app/", "/v2/Team/App/"),  # not a repository name
        COMBINED.replace("multi", "sha256:1234"),  # not a tag, not a digest
        LOGRUS,
        JSON,
        '127.0.0.1 - - [07/Dec/2026:02:00:00 +0000] "DELETE /v2/team/app/manifests/'
        f'{DIGEST} HTTP/1.1" 202 0 "" "python-httpx/0.29.0"',
        "panic: runtime error",
    ]
    summary = summarize(lines)
    assert (summary.lines, summary.requests) == (len(lines), len(lines) - 2)
    assert summary.first == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    assert summary.last == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert summary.counts == {Action.PULL: 4, Action.PUSH: 1, Action.DELETE: 1}
    assert sorted(summary.events.values(), key=lambda e: (e.action, e.reference)) == [
        Event(Action.DELETE, "team/app", DIGEST, datetime(2026, 12, 7, 2, tzinfo=UTC), DIGEST),
        Event(Action.PULL, "team/app", "multi", datetime(2026, 12, 7, 1, 16, 17, tzinfo=UTC)),
        Event(Action.PULL, "team/app", DIGEST, at("2026-12-07T01:16:16.739761Z"), DIGEST),
        Event(Action.PUSH, "team/app", "t1", at("2026-12-07T01:21:59.452959Z")),
    ]


def test_gzip_is_recognised_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    rotated = tmp_path / "registry.log-20261207"
    rotated.write_bytes(gzip.compress(f"{COMBINED}\n{LOGRUS}\n".encode()))
    plain = tmp_path / "registry.log.gz"
    plain.write_bytes(b"\xff\xfe garbage\n" + f"{COMBINED}\n".encode())  # not gzip, not UTF-8
    assert [parse_line(line) for line in open_log(rotated)] == [
        parse_line(COMBINED),
        parse_line(LOGRUS),
    ]
    assert summarize(open_log(plain)).requests == 1
