"""moto's S3 server on loopback, for tests and benchmarks of registries on object storage.

``moto_server`` is started directly (never through a shell) so the pid kept is the server's
own, and stopped by that pid. Its request log (werkzeug's access log on stderr) goes to a
file, which is how :meth:`MotoServer.requests` counts the S3 requests made to one bucket.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import obstore
from obstore.store import S3Store

from tests.support.registry import (
    LOOPBACK,
    RegistryServer,
    free_port,
    stop_pid,
    wait_until_ready,
)

#: Credentials moto accepts (it accepts any); the registry and regsweep both use them.
ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"
#: The registry's rootdirectory inside the bucket, as in registry.md section 5.
ROOT = "registry"

#: One access log line: werkzeug colours the request line when the status is not 200,
#: with one code or more (``206`` for a ranged read: bold and magenta). Method, bucket, key
#: (absent or ``/`` for a request to the bucket itself), query.
_REQUEST = re.compile(
    r'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|DELETE|HEAD) /([^/?\s]+)(/[^?\s]*)?(\?\S*)?'
)


def _operation(method: str, key: str | None, query: str | None) -> str:
    """The S3 operation of a logged request, named as regsweep counts them
    (:class:`~regsweep.sources.storage.s3_listing.S3Request`): ``list`` (ListObjects, a
    page), ``get``, ``head``, ``put`` (a CopyObject too: the log does not show its header),
    ``delete`` (DeleteObjects); anything else by its method, lower case."""
    on_bucket = key in (None, "/")
    if method == "GET" and on_bucket and (not query or "list-type" in query or "prefix" in query):
        return "list"
    if method == "POST" and on_bucket and query is not None and "delete" in query:
        return "delete"
    if method == "DELETE":
        return "delete_object"
    return method.lower() if not on_bucket or method != "GET" else "get_bucket"


def aws_env() -> dict[str, str]:
    """What regsweep needs in its environment to reach moto: keys, region, nothing else
    of the caller's AWS settings (a real profile must never be used against moto)."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
    }


@dataclass
class MotoServer:
    """One ``moto_server`` process; ``log_path`` holds its request log."""

    log_path: Path
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        binary = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        if binary is None:
            raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [binary, "-H", LOOPBACK, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        process = self._process
        try:
            wait_until_ready(
                self.endpoint,
                timeout,
                alive=lambda: process.poll() is None,
                probe="/moto-api/",
                ready=(200,),
            )
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"moto_server: {exc}\n{self.log_tail()}") from None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_pid(process.pid, 10.0)
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def create_bucket(self, name: str) -> None:
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            client.put(f"{self.endpoint}/{name}").raise_for_status()

    def store(self, bucket: str, prefix: str | None = ROOT) -> S3Store:
        """An obstore client on ``bucket`` (below ``prefix``), for tests to look or write."""
        return S3Store(
            bucket,
            prefix=prefix,
            endpoint=self.endpoint,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            client_options={"allow_http": True},
        )

    def objects(self, bucket: str, prefix: str | None = ROOT) -> dict[str, tuple[int, str]]:
        """Every key below ``prefix`` with its size and ETag: equal listings before and after
        prove that nothing was written, deleted or rewritten (a rewrite of the same bytes
        keeps the ETag, so LastModified is compared through :meth:`modified` as well)."""
        found: dict[str, tuple[int, str]] = {}
        for page in obstore.list(self.store(bucket, prefix), chunk_size=1000):
            for meta in page:
                found[meta["path"]] = (meta["size"], meta["e_tag"] or "")
        return found

    def modified(self, bucket: str, prefix: str | None = ROOT) -> dict[str, float]:
        """LastModified of every key below ``prefix``."""
        return {
            meta["path"]: meta["last_modified"].timestamp()
            for page in obstore.list(self.store(bucket, prefix), chunk_size=1000)
            for meta in page
        }

    def requests(self, bucket: str) -> Counter[str]:
        """The requests logged so far for ``bucket``, counted by S3 operation (path-style
        only; see :func:`_operation`)."""
        time.sleep(0.2)  # the log is written after each answer
        counts: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            match = _REQUEST.search(line)
            if match is not None and match.group(2) == bucket:
                counts[_operation(match.group(1), match.group(3), match.group(4))] += 1
        return counts

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def s3_driver(moto: MotoServer, bucket: str) -> dict[str, Any]:
    """The registry's ``storage.s3`` section for ``bucket`` on ``moto`` (registry.md 5)."""
    return {
        "s3": {
            "accesskey": ACCESS_KEY,
            "secretkey": SECRET_KEY,
            "region": REGION,
            "regionendpoint": moto.endpoint,
            "bucket": bucket,
            "rootdirectory": f"/{ROOT}",
            "secure": False,
            "v4auth": True,
            "forcepathstyle": True,
        }
    }


@dataclass
class S3Registry:
    """A registry whose storage is ``bucket`` on ``moto`` (the ``s3_registry`` fixture)."""

    registry: RegistryServer
    moto: MotoServer
    bucket: str

    @property
    def storage(self) -> str:
        """What regsweep's ``--storage`` takes."""
        return f"s3://{self.bucket}/{ROOT}"

    def regsweep_args(self) -> list[str]:
        """``--storage`` and ``--s3-endpoint`` for this bucket."""
        return ["--storage", self.storage, "--s3-endpoint", self.moto.endpoint]

    def objects(self) -> dict[str, tuple[int, str]]:
        return self.moto.objects(self.bucket)

    def keys(self, below: str = "") -> set[str]:
        """Every key below ``below`` (relative to the registry's root)."""
        return {k for k in self.objects() if k.startswith(below)}
