"""Test set-ups for registry auth and TLS: htpasswd files, a bearer-token issuer, a test CA.

Everything is made with the standard library and the ``openssl`` command: no extra Python
dependency. The token issuer signs RS256 JWTs with ``openssl dgst`` and puts its
self-signed certificate in the ``x5c`` header; the registry trusts that certificate as
its ``auth.token.rootcertbundle``. It serves only on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.registry import LOOPBACK

SERVICE = "regsweep-test-registry"
ISSUER = "regsweep-test-issuer"


def bcrypt_hash(password: str) -> str | None:
    """A bcrypt hash for htpasswd (the only scheme distribution accepts), or None.

    Uses the C library's crypt(3) through the stdlib ``crypt`` module (Python <= 3.12,
    libxcrypt supports ``$2b$``), else ``htpasswd -nbB`` from apache2-utils.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            crypt = None  # type: ignore[assignment]
    if crypt is not None:
        salt = base64.b64encode(secrets.token_bytes(16), altchars=b"./").decode()[:22]
        hashed = crypt.crypt(password, f"$2b$05${salt}")
        if hashed and hashed.startswith("$2b$"):
            return hashed
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        return None
    out = subprocess.run(
        [htpasswd, "-nbB", "-C", "5", "user", password], capture_output=True, text=True, check=True
    ).stdout
    return out.strip().partition(":")[2]


def htpasswd_auth(path: Path, user: str, password: str) -> dict[str, Any]:
    """The registry's ``auth`` config for one htpasswd user, whose file is written at
    ``path``; skips the test where no bcrypt is to be had (see :func:`bcrypt_hash`)."""
    hashed = bcrypt_hash(password)
    if hashed is None:
        pytest.skip("no bcrypt: needs Python's crypt module (<= 3.12) or htpasswd")
    path.write_text(f"{user}:{hashed}\n")
    return {"auth": {"htpasswd": {"realm": "test", "path": str(path)}}}


def _openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], capture_output=True, check=True).stdout


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class CertificateAuthority:
    """A CA and one server certificate for 127.0.0.1 signed by it (and a client cert)."""

    folder: Path
    ca_cert: Path = field(init=False)
    server_cert: Path = field(init=False)
    server_key: Path = field(init=False)
    client_cert: Path = field(init=False)
    client_key: Path = field(init=False)

    def __post_init__(self) -> None:
        f = self.folder
        f.mkdir(parents=True, exist_ok=True)
        self.ca_cert, ca_key = f / "ca.pem", f / "ca.key"
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=regsweep test CA", "-keyout", str(ca_key), "-out", str(self.ca_cert),
        )  # fmt: skip
        self.server_cert, self.server_key = self._issue("server", "subjectAltName=IP:127.0.0.1")
        self.client_cert, self.client_key = self._issue("client", "extendedKeyUsage=clientAuth")

    def _issue(self, name: str, extension: str) -> tuple[Path, Path]:
        f = self.folder
        key, csr, cert, ext = (f / f"{name}.{s}" for s in ("key", "csr", "pem", "ext"))
        ext.write_text(extension + "\n")
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(key), "-out", str(csr),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert),
            "-CAkey", str(f / "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(ext), "-out", str(cert),
        )  # fmt: skip
        return cert, key


@dataclass
class TokenIssuer:
    """A bearer-token endpoint for distribution's ``auth.token`` (docker token spec).

    Grants every action asked for to ``users`` with the right password; anonymous
    requests get tokens with no access. ``lifetime`` is the token's ``expires_in``.
    """

    folder: Path
    users: dict[str, str]
    lifetime: int = 300
    #: actions never granted to anyone (e.g. {"delete"} for a token without delete rights)
    denied: set[str] = field(default_factory=set)
    port: int = 0
    issued: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.key = self.folder / "issuer.key"
        self.cert = self.folder / "issuer.pem"
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=regsweep test token issuer",
            "-keyout", str(self.key), "-out", str(self.cert),
        )  # fmt: skip
        der = _openssl("x509", "-in", str(self.cert), "-outform", "DER")
        self._x5c = base64.b64encode(der).decode()

    @property
    def realm(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/token"

    def registry_config(self) -> dict[str, Any]:
        return {
            "auth": {
                "token": {
                    "realm": self.realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self.cert),
                }
            }
        }

    def mint(self, subject: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            capture_output=True,
            check=True,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def admin_token(self, *repositories: str) -> str:
        """A token with every action on ``repositories`` (for test set-up pushes)."""
        access = [
            {"type": "repository", "name": r, "actions": ["pull", "push", "delete"]}
            for r in repositories
        ]
        return self.mint("admin", access)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        subject = "anonymous"
        header = handler.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "bad login"}]})
                handler.send_response(401)
                handler.send_header("Content-Type", "application/json")
                handler.end_headers()
                handler.wfile.write(body.encode())
                return
            subject = user
        access = []
        for scope in query.get("scope", []):
            for item in scope.split(" "):
                kind, _, rest = item.partition(":")
                name, _, actions = rest.rpartition(":")
                granted = [a for a in actions.split(",") if a not in self.denied]
                if subject != "anonymous":
                    access.append({"type": kind, "name": name, "actions": granted})
        token = self.mint(subject, access)
        self.issued.append({"subject": subject, "scope": query.get("scope", [])})
        payload = json.dumps({"token": token, "expires_in": self.lifetime})
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        handler.wfile.write(payload.encode())

    @contextmanager
    def serving(self) -> Iterator[TokenIssuer]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self.port = self._server.server_address[1]
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()


class StaticBearer(httpx.Auth):
    """Sends one pre-minted token (test set-up only; regsweep's own flow is under test)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request
