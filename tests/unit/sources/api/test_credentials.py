"""Where credentials come from: flags, the Docker config, its credential helpers."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from regsweep.core.errors import UsageError
from regsweep.sources.api.auth import Credentials
from regsweep.sources.api.credentials import registry_host, resolve_credentials

URL = "https://registry.test"


def docker_config(tmp_path: Path, config: dict[str, object]) -> dict[str, str]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(tmp_path), "PATH": f"{tmp_path}:{os.environ['PATH']}"}


def test_flags_win_over_docker_config(tmp_path: Path) -> None:
    env = docker_config(tmp_path, {"auths": {"registry.test:5000": {"auth": "eDp5"}}})
    found = resolve_credentials("https://registry.test:5000", username="a", password="b", env=env)
    assert found == Credentials("a", "b")


def test_a_username_without_password_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--password-stdin"):
        resolve_credentials(URL, username="a", env={})


def test_docker_config_auths_match_host_and_port(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"alice:pa:ss").decode()
    env = docker_config(
        tmp_path,
        {
            "auths": {
                "https://other.test/v1/": {"auth": base64.b64encode(b"x:y").decode()},
                "https://registry.test:5000": {"auth": encoded},
            }
        },
    )
    assert resolve_credentials("https://registry.test:5000", env=env) == Credentials(
        "alice", "pa:ss"
    )
    assert resolve_credentials("https://registry.test:5001", env=env) is None


def test_no_docker_config_is_anonymous(tmp_path: Path) -> None:
    assert resolve_credentials(URL, env={"DOCKER_CONFIG": str(tmp_path)}) is None


def helper(tmp_path: Path, name: str, answer: str, code: int = 0) -> None:
    script = tmp_path / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\nread host\n"
        f"[ \"$host\" = registry.test:5000 ] || {{ echo 'credentials not found'; exit 1; }}\n"
        f"echo '{answer}'\nexit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_cred_helpers_are_asked_for_the_host(tmp_path: Path) -> None:
    helper(tmp_path, "fake", '{"ServerURL":"x","Username":"bob","Secret":"s3"}')
    env = docker_config(tmp_path, {"credHelpers": {"registry.test:5000": "fake"}})
    assert resolve_credentials("https://registry.test:5000", env=env) == Credentials("bob", "s3")
    env = docker_config(tmp_path, {"credsStore": "fake"})
    assert resolve_credentials("https://registry.test:5000", env=env) == Credentials("bob", "s3")
    assert resolve_credentials("https://elsewhere.test", env=env) is None


def test_a_failing_helper_is_a_usage_error_without_secrets(tmp_path: Path) -> None:
    helper(tmp_path, "broken", "oops s3cret", code=3)
    env = docker_config(tmp_path, {"credsStore": "broken"})
    with pytest.raises(UsageError, match="exit code 3") as caught:
        resolve_credentials("https://registry.test:5000", env=env)
    assert "s3cret" not in str(caught.value)


def test_identity_tokens_are_refused_clearly(tmp_path: Path) -> None:
    env = docker_config(tmp_path, {"auths": {"registry.test": {"identitytoken": "abc"}}})
    with pytest.raises(UsageError, match="identity token"):
        resolve_credentials("https://registry.test", env=env)


def test_registry_host_normalises_config_keys() -> None:
    assert registry_host("https://Registry.test:5000/v1/") == "registry.test:5000"
    assert registry_host("registry.test:5000") == "registry.test:5000"
    assert registry_host("http://127.0.0.1:8080") == "127.0.0.1:8080"
