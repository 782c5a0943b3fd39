"""Where a registry's S3 storage is and how to reach it: the values the settings hold.

Apart from :mod:`.s3`, which talks to the bucket, so that a command on a local folder does
not load obstore (about 8 MiB of memory) to parse its settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from regsweep.core.errors import UsageError
from regsweep.sources.storage.store import check_relative

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True, slots=True)
class S3Options:
    """The registry's own S3 settings, where they differ from the AWS defaults.

    ``endpoint`` is ``regionendpoint`` (MinIO, Ceph, moto...), ``path_style`` is
    ``forcepathstyle``. Credentials come from the AWS environment, the shared files'
    profile, or the machine's role, never from regsweep's own settings.
    """

    endpoint: str | None = None
    region: str | None = None
    path_style: bool = True


@dataclass(frozen=True, slots=True)
class S3Location:
    """``s3://bucket/prefix``: the bucket and the registry's ``rootdirectory`` in it."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """Parse ``s3://bucket[/prefix]``; ``ValueError`` saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or parts.query or parts.fragment:
            raise ValueError(f"{url!r} is not an s3://bucket/prefix URL")
        if not _BUCKET.fullmatch(parts.netloc):
            raise ValueError(f"{parts.netloc!r} in {url!r} is not an S3 bucket name")
        prefix = parts.path.strip("/")
        if prefix:
            try:
                check_relative(prefix)
            except UsageError:
                raise ValueError(f"{url!r}: the prefix {prefix!r} is not a clean path") from None
        return cls(parts.netloc, prefix)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
