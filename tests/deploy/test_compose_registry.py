"""The compose file's registry configuration, run by the real registry, sending its
notifications with the compose token to the compose file's ``regsweep listen`` command."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import RegistryFactory
from tests.deploy.test_deploy_files import DEPLOY, parse_command_line
from tests.support.cli import clean_env
from tests.support.images import Pusher
from tests.support.listener import ListenerProcess, recorded, wait_for
from tests.support.registry import LOOPBACK, free_port
from tests.support.skopeo import assert_pulls

#: compose's ``${VAR:?message}``: the value, or compose refuses to start
REQUIRED_VARIABLE = re.compile(r"\$\{(\w+):\?[^}]*\}")


def compose_registry_config(token: str) -> dict[str, Any]:
    """The registry's config as compose hands it over, the token interpolated."""
    document = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    content = document["configs"]["registry-config"]["content"]
    interpolated = REQUIRED_VARIABLE.sub(
        lambda m: token if m.group(1) == "REGSWEEP_TOKEN" else m.group(0), content
    )
    config = yaml.safe_load(interpolated)
    assert isinstance(config, dict)
    return config


def test_the_compose_registry_notifies_the_compose_listener_with_its_token(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    token = secrets.token_hex(16)
    token_file = tmp_path / "regsweep-token"
    token_file.write_text(token)
    command = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())["services"][
        "regsweep"
    ]["command"]
    schedule = parse_command_line(command).params["cleanup_schedule"]
    db = tmp_path / "pulls.sqlite"
    with ListenerProcess(
        db,
        token_file,
        clean_env(tmp_path),
        tmp_path / "listen.log",
        args=["--schedule", schedule],
    ) as listener:
        listener.start()
        config = compose_registry_config(token)
        (endpoint,) = config["notifications"]["endpoints"]
        assert endpoint["url"] == "http://regsweep:5050/events"  # the service, in compose
        endpoint["url"] = listener.url  # here: the same listener on loopback
        config["http"]["addr"] = f"{LOOPBACK}:{free_port()}"
        config["storage"]["filesystem"]["rootdirectory"] = str(tmp_path / "storage")
        registry = registry_factory(config)
        with Pusher(registry.url) as pusher:
            pusher.push_image("app", "v1")
        assert_pulls(registry.host, "app", "v1", tmp_path / "pulls")

        wait_for(lambda: ("app", "v1") in recorded(db), what="the pull of app:v1")
        assert "refused" not in listener.log()
