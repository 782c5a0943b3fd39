"""TLS settings for the registry connection: verified by default, loudly insecure on request."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from regsweep.core.errors import UsageError

log = logging.getLogger(__name__)

INSECURE_WARNING = (
    "--insecure: the registry's TLS certificate is NOT verified. Anyone on the network path "
    "can impersonate the registry, read the credentials sent to it and decide what regsweep "
    "deletes. Use --ca-cert with the registry's CA instead."
)


def ssl_context(
    *,
    ca_cert: Path | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    insecure: bool = False,
) -> ssl.SSLContext:
    """A context trusting the system CAs, or only ``ca_cert`` when given.

    ``client_cert`` (with ``client_key`` unless the key is in the same PEM) is presented
    to registries that require mutual TLS. Unreadable or malformed files are usage errors.
    """
    if insecure and ca_cert is not None:
        raise UsageError("--insecure and --ca-cert contradict each other: choose one")
    if client_key is not None and client_cert is None:
        raise UsageError("--client-key needs --client-cert")
    try:
        context = ssl.create_default_context(cafile=str(ca_cert) if ca_cert else None)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"--ca-cert {ca_cert}: not a readable PEM certificate ({exc})") from None
    if insecure:
        log.warning(INSECURE_WARNING)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        try:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                f"--client-cert {client_cert}: cannot load the certificate and key ({exc})"
            ) from None
    return context
