"""TLS settings: CA and client certificates, and the files that cannot be loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from regsweep.core.errors import UsageError
from regsweep.sources.api.tls import ssl_context
from tests.support.auth_servers import CertificateAuthority


def test_tls_files_that_cannot_be_loaded_are_usage_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(UsageError, match="--ca-cert"):
        ssl_context(ca_cert=junk)
    with pytest.raises(UsageError, match="--client-cert"):
        ssl_context(client_cert=junk)
    with pytest.raises(UsageError, match="contradict"):
        ssl_context(ca_cert=junk, insecure=True)
    with pytest.raises(UsageError, match="--client-key needs"):
        ssl_context(client_key=junk)


def test_tls_loads_a_ca_and_a_client_certificate(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    context = ssl_context(ca_cert=ca.ca_cert, client_cert=ca.client_cert, client_key=ca.client_key)
    assert context.check_hostname
    assert len(context.get_ca_certs()) == 1
