"""The deployment files in deploy/, checked as far as this machine allows.

No container engine, systemd or Kubernetes runs here, so each file is checked by the tool
that knows its format (hadolint, systemd-analyze, the Kubernetes and compose schemas), and
every regsweep command line and setting in them is parsed by regsweep itself: a renamed
flag or a mistyped environment variable fails here, not at 3 am.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from regsweep.cli.main import COMMANDS, cli
from regsweep.cli.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
BIN = Path(sys.executable).parent

#: Variables the deployment files set that are not regsweep settings.
OTHER_VARIABLES = {"XDG_STATE_HOME", "HOME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def tool(name: str) -> str:
    """A checker installed with the test dependencies (beside this Python), else on PATH."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: scripts/setup.sh installs it"
    return found


def parse_command_line(argv: Sequence[str]) -> click.Context:
    """Parse ``regsweep ARGV`` as the CLI would, without running it: unknown flags, bad
    choices and missing arguments raise :class:`click.UsageError`."""
    group = cli.make_context("regsweep", list(argv))
    tokens = list(group.args)
    if not tokens or tokens[0] not in COMMANDS:  # click 8 keeps the command's name apart
        tokens = [argv[len(argv) - len(tokens) - 1], *tokens]
    name, command, rest = cli.resolve_command(group, tokens)
    assert command is not None and name is not None
    return command.make_context(name, rest, parent=group)


def setting_variables() -> set[str]:
    """Every environment variable a setting answers to."""
    names = set()
    for name, info in Settings.model_fields.items():
        choices = getattr(info.validation_alias, "choices", None) or [name]
        names |= {str(choice).upper() for choice in choices}
    return names


def check_settings(
    variables: dict[str, str], monkeypatch: pytest.MonkeyPatch, where: str
) -> Settings:
    """Every variable is a setting (or a known other one) and the values load."""
    unknown = set(variables) - setting_variables() - OTHER_VARIABLES
    assert not unknown, f"{where}: not regsweep settings: {sorted(unknown)}"
    for name in list(os.environ):
        if name.upper() in setting_variables():
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return load_settings({})


def test_the_dockerfile_passes_hadolint_and_runs_regsweep_as_a_user() -> None:
    dockerfile = DEPLOY / "Dockerfile"
    done = subprocess.run(
        [tool("hadolint"), str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = dockerfile.read_text()
    assert 'ENTRYPOINT ["regsweep"]' in text
    (user,) = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user.split(":")[0] not in ("0", "root")
    # the image installs the wheel built from this repository, nothing from elsewhere
    assert "pip wheel --no-cache-dir --no-deps --wheel-dir /dist ." in text
    assert "pip install --no-cache-dir /dist/*.whl" in text


def systemd_units(tmp_path: Path) -> list[Path]:
    """Copies of the units whose regsweep is the one installed here (verify checks that
    ExecStart's program exists)."""
    copies = []
    for unit in sorted((DEPLOY / "systemd").glob("regsweep.*")):
        if unit.suffix in (".service", ".timer"):
            copy = tmp_path / unit.name
            text = unit.read_text().replace("/opt/regsweep/bin/regsweep", str(BIN / "regsweep"))
            copy.write_text(text)
            copies.append(copy)
    return copies


def test_systemd_analyze_verifies_the_service_and_timer_without_a_word(tmp_path: Path) -> None:
    units = systemd_units(tmp_path)
    assert [u.name for u in units] == ["regsweep.service", "regsweep.timer"]
    done = subprocess.run(
        [tool("systemd-analyze"), "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        check=False,
    )
    # unknown keys and unparsable calendars are warnings with exit 0: any output fails
    assert done.returncode == 0 and not done.stdout + done.stderr, done.stdout + done.stderr


def unit_value(unit: Path, key: str) -> str:
    """A key's value, continuation lines joined."""
    text = unit.read_text().replace("\\\n", " ")
    (value,) = re.findall(rf"^{key}=(.*)$", text, re.MULTILINE)
    return value.strip()


def test_the_service_runs_a_valid_command_with_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = DEPLOY / "systemd" / "regsweep.service"
    program, *argv = shlex.split(unit_value(service, "ExecStart"))
    assert program == "/opt/regsweep/bin/regsweep"
    context = parse_command_line(argv)
    assert context.command.name == "run"
    env_file = DEPLOY / "systemd" / "regsweep.env"
    assert unit_value(service, "EnvironmentFile") == "/etc/regsweep/regsweep.env"
    variables = dict(
        line.split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    settings = check_settings(variables, monkeypatch, env_file.name)
    spec = settings.in_use_spec()
    assert spec is not None and spec.command is not None and spec.command[:2] == ("docker", "ps")


def kubernetes_documents(name: str) -> Iterator[dict[str, Any]]:
    yield from yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text())


def test_the_kubernetes_manifests_match_the_kubernetes_schemas() -> None:
    manifests = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    assert manifests
    done = subprocess.run(
        [
            *(tool("kubernetes-validate"), "--strict", "--kubernetes-version", "1.30.0"),
            *map(str, manifests),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warn" not in done.stdout.lower() + done.stderr.lower()


def test_the_cronjob_runs_one_valid_cleanup_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    (cronjob,) = [d for d in kubernetes_documents("cronjob.yaml") if d["kind"] == "CronJob"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    context = parse_command_line(container["args"])
    assert context.command.name == "run"
    in_use = context.params["in_use_file"]
    (init,) = pod["initContainers"]
    assert f"> {in_use}" in init["command"][-1]  # the init container writes what run reads
    variables = {e["name"]: e["value"] for e in container["env"]}
    check_settings(variables, monkeypatch, "cronjob.yaml")
    assert pod["securityContext"]["runAsNonRoot"] is True


def compose() -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    assert isinstance(document, dict)
    return document


def test_the_compose_file_matches_the_compose_specification() -> None:
    done = subprocess.run(
        [
            *(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec"),
            str(DEPLOY / "compose" / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_listener_runs_a_valid_command_with_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = compose()["services"]["regsweep"]
    context = parse_command_line(service["command"])
    assert context.command.name == "listen"
    assert context.params["cleanup_schedule"] == "0 3 * * *"
    assert context.params["listen_token_file"] == Path("/run/secrets/regsweep-token")
    check_settings(service["environment"], monkeypatch, "compose.yaml")
    # the cleanup goes through the registry's container, as the seed's did
    assert (
        service["environment"]["DOCKER_REGISTRY_NAME"]
        == compose()["services"]["registry"]["container_name"]
    )


def test_the_listener_serves_the_metrics_the_cronjob_writes_on_the_cronjobs_node() -> None:
    (cronjob,) = [d for d in kubernetes_documents("cronjob.yaml") if d["kind"] == "CronJob"]
    job_pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (deployment,) = [d for d in kubernetes_documents("listener.yaml") if d["kind"] == "Deployment"]
    listener_pod = deployment["spec"]["template"]
    (listener,) = listener_pod["spec"]["containers"]
    listen = parse_command_line(listener["args"])
    run = parse_command_line(job_pod["containers"][0]["args"])

    assert listen.command.name == "listen"
    assert listen.params["metrics_file"] == run.params["metrics_file"]
    # both on one node, where the ReadWriteOnce state volume is
    (term,) = job_pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert (
        term["labelSelector"]["matchLabels"].items() <= listener_pod["metadata"]["labels"].items()
    )
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for pod in (job_pod, listener_pod["spec"])
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"regsweep-state"}
    assert listener["readinessProbe"]["httpGet"]["path"] == "/healthz"
