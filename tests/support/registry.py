"""A real CNCF distribution registry (``docker-registry``) on loopback, for tests and benchmarks.

The server is the Debian binary started directly (never through a shell), so the pid we keep is
the server's own and stopping it cannot leak a process. It only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import yaml

from tests.support.damage import Injected, inject

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``extra``: nested dicts merge, any other value replaces."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _loopback_port(addr: str, setting: str) -> int:
    """Port of a ``127.0.0.1:PORT`` address; anything else is refused (tests stay on loopback)."""
    host, _, port = addr.rpartition(":")
    if host != LOOPBACK or not port.isdigit():
        raise ValueError(f"{setting} must be {LOOPBACK}:PORT, got {addr!r}")
    return int(port)


def _server_env() -> dict[str, str]:
    """The caller's environment minus what would silently change the server's behaviour.

    ``REGISTRY_*`` variables override the config file; ``AWS_CA_BUNDLE`` makes the S3 driver
    panic at start (see registry.md section 5).
    """
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REGISTRY_") and key != "AWS_CA_BUNDLE"
    }


def wait_until_ready(
    url: str,
    timeout: float,
    alive: Callable[[], bool],
    *,
    probe: str = "/v2/",
    ready: tuple[int, ...] = (200, 401),
) -> None:
    """Poll ``GET probe`` until it answers one of ``ready`` (a registry: ``/v2/`` with 200,
    or 401 when auth is enabled); RuntimeError if the server died or timed out."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    # verify=False: only the readiness probe skips checking a test TLS certificate.
    with httpx.Client(timeout=1.0, verify=False, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError(f"server at {url} exited at start")
            try:
                status = client.get(f"{url}{probe}").status_code
            except httpx.TransportError as exc:
                last_error = repr(exc)
            else:
                if status in ready:
                    return
                last_error = f"GET {probe} answered {status}"
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} not ready after {timeout}s ({last_error})")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_pid(pid: int, timeout: float) -> None:
    """SIGTERM a server we started (through a stand-in), SIGKILL after ``timeout``."""
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.02)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child (a zombie still answers kill 0)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@dataclass
class RegistryServer:
    """One registry process with its own config, storage tree and log, all under ``tmp_dir``."""

    tmp_dir: Path
    root: Path
    """Storage rootdirectory: what users call REGISTRY_DIR."""
    config_path: Path
    config: dict[str, Any]
    port: int
    log_path: Path
    binary: str
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @classmethod
    def create(
        cls,
        tmp_dir: Path,
        *,
        extra_config: dict[str, Any] | None = None,
        storage_driver: dict[str, Any] | None = None,
    ) -> RegistryServer:
        """Write a config under ``tmp_dir`` (nothing is started).

        ``extra_config`` is deep-merged into the defaults, e.g. ``{"auth": {...}}``,
        ``{"http": {"tls": {...}}}``, ``{"storage": {"delete": {"enabled": False}}}`` or
        ``{"storage": {"maintenance": {"readonly": {"enabled": True}}}}``.
        ``storage_driver`` replaces the filesystem driver, e.g. ``{"s3": {...}}`` (a merge
        cannot remove it, and the registry refuses two drivers); ``root`` is then unused.
        """
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        tmp_dir = Path(tmp_dir).resolve()
        root = tmp_dir / "storage"
        root.mkdir(parents=True, exist_ok=True)
        defaults: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {
                **(storage_driver or {"filesystem": {"rootdirectory": str(root)}}),
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": f"{LOOPBACK}:{free_port()}", "secret": secrets.token_hex(16)},
        }
        config = deep_merge(defaults, extra_config or {})
        port = _loopback_port(config["http"]["addr"], "http.addr")
        debug_addr = config["http"].get("debug", {}).get("addr")
        if debug_addr is not None:
            _loopback_port(debug_addr, "http.debug.addr")
        config_path = tmp_dir / "config.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return cls(
            tmp_dir=tmp_dir,
            root=root,
            config_path=config_path,
            config=config,
            port=port,
            log_path=tmp_dir / "registry.log",
            binary=binary,
        )

    @property
    def pid_file(self) -> Path:
        """The running server's pid, rewritten by whoever restarts it (see fake_docker)."""
        return self.tmp_dir / "registry.pid"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as skopeo and image references want it."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL; https when the config enables TLS."""
        scheme = "https" if "tls" in self.config["http"] else "http"
        return f"{scheme}://{self.host}"

    @property
    def pid(self) -> int | None:
        """Pid of the running server process, None when stopped."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the server log (kept across restarts), for error messages."""
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(empty log)"

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until ``GET /v2/`` answers 200 or 401 (auth enabled)."""
        if self.running:
            raise RuntimeError(f"registry on {self.host} is already running (pid {self.pid})")
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [self.binary, "serve", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp_dir,
            env=_server_env(),
        )
        self.pid_file.write_text(str(self._process.pid))
        try:
            wait_until_ready(
                self.url,
                timeout,
                alive=lambda: self._process is not None and self._process.poll() is None,
            )
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n{self.log_tail()}") from None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server by its pid, SIGKILL it if it has not exited after ``timeout``.

        A server restarted by the stand-in ``docker restart`` (tests/support/fake_docker.py)
        has a new pid, recorded in :attr:`pid_file`: that one is stopped too.
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_log()
        if self.pid_file.exists():
            adopted = int(self.pid_file.read_text() or 0)
            self.pid_file.unlink()
            if adopted and (process is None or adopted != process.pid):
                stop_pid(adopted, timeout)

    def damage(self, repository: str, kind: str, *, layer: str | None = None) -> Injected | None:
        """Write one kind of damage into ``repository``'s storage, as years of operation
        leave it (see tests/support/damage.py); symlinks point below ``tmp_dir/outside``."""
        outside = self.tmp_dir / "outside" / f"{kind}-{repository.replace('/', '-')}"
        return inject(self.root, repository, kind, outside=outside, layer=layer)

    def restart(self) -> None:
        """Stop and start on the same port; this also empties the in-memory blob cache."""
        self.stop()
        self.start()

    def garbage_collect(
        self,
        dry_run: bool = False,
        delete_untagged: bool = False,
        *,
        check: bool = True,
        timeout: float = 300.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker-registry garbage-collect`` on this config (output captured as text).

        The server is left as it is: callers decide whether to stop it or make it read-only
        first, and to ``restart()`` afterwards so the blob cache forgets swept blobs.
        With ``check`` a non-zero exit raises, carrying the command's output.
        """
        cmd = [self.binary, "garbage-collect", str(self.config_path)]
        if dry_run:
            cmd.append("--dry-run")
        if delete_untagged:
            cmd.append("--delete-untagged")
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp_dir,
            env=_server_env(),
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} exited with {result.returncode}\n"
                f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RegistryServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
