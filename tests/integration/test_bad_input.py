"""Bad input: each case is one clear error line, exit code 2, and nothing changed.

Every case runs ``regsweep run`` (or ``apply``) as a user would, on its own copy of one
small registry whose plan deletes something, so a case that got past its check would show
in the tree's fingerprint. The bad input comes from flags, the environment, a config file,
the storage tree, a plan file or the registry's HTTP answers (a fake on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from regsweep.sources.storage import layout
from tests.support.cli import clean_env, regsweep_in_process
from tests.support.images import Pusher
from tests.support.registry import LOOPBACK, RegistryServer, free_port
from tests.support.storage import (
    set_manifest_time,
    set_push_time,
    tag_path,
    tree_fingerprint,
)

OLD = time.time() - 90 * 86400


@dataclass
class Template:
    """The registry every case copies: what an ordinary run would delete is known."""

    root: Path
    digests: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    folder = tmp_path_factory.mktemp("template")
    with RegistryServer.create(folder) as server, Pusher(server.url) as pusher:
        found = Template(server.root)
        for repo, tag in (("app", "latest"), ("app", "old"), ("team/app", "feature")):
            image = pusher.push_image(repo, tag)
            found.digests[f"{repo}:{tag}"] = image.digest
            set_manifest_time(server.root, repo, image.digest, OLD)  # past any grace
            if tag != "latest":
                set_push_time(server.root, repo, tag, OLD)
        yield found


@dataclass
class Case:
    """A copy of the template and how to run regsweep on it."""

    root: Path
    tmp: Path
    env: dict[str, str]

    def run(self, *args: str) -> tuple[int, str]:
        done = regsweep_in_process(*args, env=self.env)
        return done.returncode, done.stderr


@pytest.fixture
def case(template: Template, tmp_path: Path) -> Case:
    root = tmp_path / "storage"
    shutil.copytree(template.root, root, symlinks=True)
    return Case(root, tmp_path, clean_env(tmp_path))


def storage_run(case: Case, *extra: str) -> tuple[int, str]:
    return case.run("run", "--registry-dir", str(case.root), "--gc", "none", "--force", *extra)


def assert_refused(case: Case, act: Callable[[], tuple[int, str]], expected: str) -> None:
    """Exit 2 with one ``error`` line holding ``expected``, and not a byte changed."""
    before = tree_fingerprint(case.root)
    code, stderr = act()
    errors = [line for line in stderr.splitlines() if "error" in line.lower()[:20]]
    assert code == 2, stderr
    assert len(errors) == 1, stderr
    assert expected in errors[0], stderr
    assert tree_fingerprint(case.root) == before
    assert not (case.tmp / "regsweep").exists(), "a journal or lock was written"


# -- settings: flags, environment, config file --------------------------------------------

SETTINGS = {
    "regex in a flag": (["--exclude-tags", "("], {}, "exclude_tags"),
    "regex of repositories": (["--repositories", "[a-"], {}, "repositories"),
    "regex in the environment": ([], {"EXCLUDE_TAGS": "v(1"}, "EXCLUDE_TAGS"),
    "duration in a flag": (["--max-age", "abc"], {}, "invalid duration 'abc'"),
    "duration in the environment": ([], {"MAX_AGE_SECONDS": "abc"}, "MAX_AGE_SECONDS"),
    "negative duration": ([], {"MAX_AGE_SECONDS": "-5"}, "MAX_AGE_SECONDS"),
    "duration with a unit typo": (["--untagged-grace", "5x"], {}, "untagged_grace"),
    "keep-last negative": (["--keep-last", "-1"], {}, "keep_last"),
    "concurrency zero": (["--concurrency", "0"], {}, "concurrency"),
    "max-delete over 100%": (["--max-delete", "150%"], {}, "max_delete"),
    "dry-run not a boolean": ([], {"DRY_RUN": "maybe"}, "DRY_RUN"),
    "URL without a scheme": (["--registry-url", "127.0.0.1:5000"], {}, "is not an http(s) URL"),
    "URL with a password": (
        ["--registry-url", "http://user:pa55word@127.0.0.1:5000"],
        {},
        "must not contain credentials",
    ),
    "memory limit with a unit typo": (["--memory-limit", "512MiBs"], {}, "invalid size '512MiBs'"),
    "negative memory limit": (["--memory-limit", "-1G"], {}, "memory_limit"),
    "memory limit in the environment": ([], {"REGSWEEP_MEMORY_LIMIT": "lots"}, "invalid size"),
    "gc command that cannot be parsed": (
        ["--gc", "registry", "--gc-command", "a 'b"],
        {},
        "cannot parse the collect garbage command",
    ),
}


@pytest.mark.parametrize(("flags", "env", "expected"), SETTINGS.values(), ids=SETTINGS.keys())
def test_bad_settings(case: Case, flags: list[str], env: dict[str, str], expected: str) -> None:
    case.env.update(env)
    outputs: list[str] = []

    def run() -> tuple[int, str]:
        code, stderr = storage_run(case, *flags)
        outputs.append(stderr)
        return code, stderr

    assert_refused(case, run, expected)
    assert "pa55word" not in outputs[0]  # regression: the error repeated the URL, password too


CONFIGS = {
    "unknown key": ("max_age: 30d\nmax_agee: 2d\n", "max_agee: unknown setting"),
    "misspelt section": ("policy:\n  max_age: 3d\n", "policy: unknown setting"),
    "not YAML": ("max_age: [30d\n", "config file"),
    "not a mapping": ("- max_age\n", "config file"),
    "wrong type": ("keep_last: many\n", "keep_last"),
}


@pytest.mark.parametrize(("text", "expected"), CONFIGS.values(), ids=CONFIGS.keys())
def test_bad_config_file(case: Case, text: str, expected: str) -> None:
    config = case.tmp / "regsweep.yaml"
    config.write_text(text)
    assert_refused(case, lambda: storage_run(case, "--config", str(config)), expected)


# -- the storage folder ---------------------------------------------------------------------


def test_a_folder_that_is_not_a_registry(case: Case) -> None:
    other = case.tmp / "not-a-registry"
    (other / "docker" / "images").mkdir(parents=True)
    before = tree_fingerprint(other)
    code, stderr = case.run("run", "--registry-dir", str(other), "--gc", "none")
    assert code == 2 and "is not a registry storage root" in stderr
    assert tree_fingerprint(other) == before
    code, stderr = case.run("run", "--registry-dir", str(case.tmp / "absent"), "--gc", "none")
    assert code == 2 and "does not exist" in stderr


def _tag_link(case: Case, repo: str, tag: str) -> Path:
    return tag_path(case.root, repo, tag) / "current" / "link"


def _garbage_link(content: bytes) -> Callable[[Case, Template], str]:
    def corrupt(case: Case, template: Template) -> str:
        link = _tag_link(case, "app", "latest")
        stat = link.stat()
        link.write_bytes(content)
        os.utime(link, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return "app/_manifests/tags/latest/current/link"

    return corrupt


def _symlinked_tag_folder(case: Case, template: Template) -> str:
    """The tag folder moved outside the root and linked back: the registry follows it."""
    folder = tag_path(case.root, "app", "latest")
    outside = case.tmp / "outside-latest"
    shutil.move(folder, outside)
    folder.symlink_to(outside)
    return "app/_manifests/tags/latest"


def _symlinked_repository(case: Case, template: Template) -> str:
    folder = case.root / layout.repository_folder("team/app")
    outside = case.tmp / "outside-team-app"
    shutil.move(folder, outside)
    folder.symlink_to(outside)
    return "repositories/team/app"


def _symlinked_revision_link(case: Case, template: Template) -> str:
    digest = template.digests["app:latest"]
    link = case.root / layout.revision_link("app", digest)
    outside = case.tmp / "outside-link"
    shutil.move(link, outside)
    link.symlink_to(outside)
    return f"revisions/sha256/{digest[7:]}/link"


def _revision_not_hex(case: Case, template: Template) -> str:
    digest = template.digests["app:latest"]
    folder = case.root / layout.revision_folder("app", digest)
    folder.rename(folder.with_name(digest[7:].upper()))
    return f"revisions/sha256/{digest[7:].upper()}"


def _repository_with_dots(case: Case, template: Template) -> str:
    source = case.root / layout.repository_folder("app")
    shutil.copytree(source, source.with_name("a..b"), symlinks=True)
    return "repositories/a..b"


def _tag_with_dots(case: Case, template: Template) -> str:
    source = tag_path(case.root, "app", "latest")
    shutil.copytree(source, source.with_name("..latest"), symlinks=True)
    return "tags/..latest"


STORAGE = {
    "tag link with garbage": _garbage_link(b"garbage"),
    "tag link empty": _garbage_link(b""),
    "tag link with a sha512 digest": _garbage_link(b"sha512:" + b"ab" * 64),
    "tag link with upper-case hex": _garbage_link(
        b"sha256:" + hashlib.sha256(b"x").hexdigest().upper().encode()
    ),
    "tag link escaping the root": _garbage_link(b"sha256:../../../../etc/passwd"),
    "tag folder symlinked out of the root": _symlinked_tag_folder,
    "repository symlinked out of the root": _symlinked_repository,
    "revision link symlinked out of the root": _symlinked_revision_link,
    "revision folder that is not sha256 hex": _revision_not_hex,
    "repository name with ..": _repository_with_dots,
    "tag name with ..": _tag_with_dots,
}


@pytest.mark.parametrize("corrupt", STORAGE.values(), ids=STORAGE.keys())
def test_unreadable_repository_metadata_stops_a_strict_run_and_apply(
    case: Case, template: Template, corrupt: Callable[[Case, Template], str]
) -> None:
    """``--strict`` keeps the whole-registry refusal: what discovery cannot read may hide a
    tag or an index (without it, the damaged repository alone is skipped: test_damage)."""
    where = corrupt(case, template)
    assert_refused(case, lambda: storage_run(case, "--strict"), where)
    plan = case.tmp / "plan.json"
    code, _ = case.run("plan", "--registry-dir", str(case.root), "--out", str(plan))
    assert code == 0  # planning still works and lists the problem
    assert_refused(
        case,
        lambda: case.run(
            "apply", str(plan), "--registry-dir", str(case.root), "--gc", "none", "--strict"
        ),
        where,
    )


def test_a_plan_file_naming_paths_outside_the_root_is_refused(case: Case) -> None:
    plan = case.tmp / "plan.json"
    code, stderr = case.run("plan", "--registry-dir", str(case.root), "--out", str(plan))
    assert code == 0, stderr
    document = json.loads(plan.read_text())
    assert document["actions"]
    for action, repository, tag in (
        (0, "../../../../tmp/x", None),
        (0, "app/../../..", None),
        (0, "app", "../../../../etc"),
        (0, "app", "a/b"),
    ):
        forged = dict(document)
        forged["actions"] = [dict(a) for a in document["actions"]]
        forged["actions"][action]["repository"] = repository
        if tag is not None:
            forged["actions"][action]["tag"] = tag
        forged.pop("checksum")
        canonical = json.dumps(forged, sort_keys=True, separators=(",", ":"))
        forged["checksum"] = f"sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"
        plan.write_text(json.dumps(forged))
        assert_refused(
            case,
            lambda: case.run("apply", str(plan), "--registry-dir", str(case.root), "--gc", "none"),
            "invalid",
        )


# -- registries that are not there, or not registries ---------------------------------------


def test_an_unreachable_registry(case: Case) -> None:
    closed = f"http://{LOOPBACK}:{free_port()}"
    assert_refused(case, lambda: case.run("run", "--registry-url", closed), "cannot connect")
    assert_refused(case, lambda: storage_run(case, "--registry-url", closed), "cannot connect")


class FakeRegistry(ThreadingHTTPServer):
    """Answers every request from ``answers`` (path -> status, content type, body); records
    the paths asked for."""

    def __init__(self, answers: dict[str, tuple[int, str, bytes]]) -> None:
        super().__init__((LOOPBACK, 0), _FakeHandler)
        self.answers = answers
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"


class _FakeHandler(BaseHTTPRequestHandler):
    server: FakeRegistry

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.paths.append(f"{self.command} {self.path}")
        default = (404, "application/json", b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
        status, content_type, body = self.server.answers.get(path, default)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if path == "/v2/" and content_type == "application/json":
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_DELETE = do_PUT = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[Callable[[dict[str, tuple[int, str, bytes]]], FakeRegistry]]:
    servers: list[FakeRegistry] = []

    def start(answers: dict[str, tuple[int, str, bytes]]) -> FakeRegistry:
        server = FakeRegistry(answers)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


HTML = (200, "text/html", b"<!doctype html><html><body>Welcome to nginx!</body></html>")
JSON_V2 = (200, "application/json", b"{}")
ANSWERS = {
    "a web server, not a registry": ({"/v2/": HTML, "/v2/_catalog": HTML}, "not a registry"),
    "HTML catalog": ({"/v2/": JSON_V2, "/v2/_catalog": HTML}, "catalog"),
    "catalog not JSON": (
        {"/v2/": JSON_V2, "/v2/_catalog": (200, "application/json", b'{"repositories": [')},
        "catalog",
    ),
    "catalog of the wrong shape": (
        {"/v2/": JSON_V2, "/v2/_catalog": (200, "application/json", b'{"repositories": 7}')},
        "catalog",
    ),
    "tag list not JSON": (
        {
            "/v2/": JSON_V2,
            "/v2/_catalog": (200, "application/json", b'{"repositories": ["app"]}'),
            "/v2/app/tags/list": (200, "application/json", b"<html>"),
        },
        "tags of app",
    ),
}


@pytest.mark.parametrize(("answers", "expected"), ANSWERS.values(), ids=ANSWERS.keys())
def test_a_registry_answering_html_or_invalid_json(
    case: Case,
    fake: Callable[[dict[str, tuple[int, str, bytes]]], FakeRegistry],
    answers: dict[str, tuple[int, str, bytes]],
    expected: str,
) -> None:
    server = fake(answers)
    assert_refused(case, lambda: case.run("run", "--registry-url", server.url), expected)
    assert not [p for p in server.paths if not p.startswith(("GET ", "HEAD "))]


def test_names_with_dots_from_the_registry_never_reach_a_request(
    case: Case, fake: Callable[[dict[str, tuple[int, str, bytes]]], FakeRegistry]
) -> None:
    """A catalog or tag list naming ``..`` paths: such repositories are skipped whole (an
    API-mode run never deletes what it did not see), and no request leaves ``/v2/<name>``."""
    names = ["../../etc", "app/../../x", "ok/..", "good"]
    server = fake(
        {
            "/v2/": JSON_V2,
            "/v2/_catalog": (200, "application/json", json.dumps({"repositories": names}).encode()),
            "/v2/good/tags/list": (
                200,
                "application/json",
                json.dumps({"name": "good", "tags": ["../../../x", "v1"]}).encode(),
            ),
        }
    )
    code, stderr = case.run("run", "--registry-url", server.url, "--output", "json")
    assert code == 0, stderr
    assert "invalid repository name" in stderr and "invalid tag name" in stderr
    assert [p for p in server.paths if ".." in p.split("?")[0]] == []
    assert {p.split("?")[0] for p in server.paths} == {
        "GET /v2/",
        "GET /v2/_catalog",
        "GET /v2/good/tags/list",
    }
