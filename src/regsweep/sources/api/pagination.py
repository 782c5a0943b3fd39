"""Following ``Link: <...>; rel="next"`` through catalog and tag list pages.

A listing that stops early is not harmless: a tag missing from the inventory is a tag
whose manifest looks unreferenced. So a page that cannot be followed safely (another
origin, a loop, too many pages) is an error, never a silently shorter list.
"""

from __future__ import annotations

import re

import httpx

from regsweep.core.errors import RegistryAPIError

#: Page size asked for. distribution answers 400 PAGINATION_NUMBER_INVALID above 1000, and
#: ECR rejects more too; registries that ignore ``n`` (2.8's tag list) answer in one page.
PAGE_SIZE = 1000
#: Pages followed for one listing before giving up (a million names at PAGE_SIZE).
MAX_PAGES = 1000

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?')


def next_page(response: httpx.Response) -> httpx.URL | None:
    """The absolute URL of the next page, or None on the last page.

    Relative links are resolved against the request URL (distribution sends
    ``</v2/_catalog?last=x&n=100>``). A link to another scheme, host or port is refused:
    following it would send the registry's credentials to whoever the header names.
    """
    header = response.headers.get("Link")
    if not header:
        return None
    for match in _LINK.finditer(header):
        rels = _REL_NEXT.findall(match.group(2))
        if not any("next" in rel.split() for rel in rels):
            continue
        here = response.request.url
        target = here.join(match.group(1))
        if (target.scheme, target.host, target.port) != (here.scheme, here.host, here.port):
            raise RegistryAPIError(
                f"{here.path}: refusing to follow a pagination link to another origin "
                f"({target.scheme}://{target.host}:{target.port or ''})"
            )
        return target
    return None


class PageGuard:
    """Stops a listing that loops or never ends."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seen: set[str] = set()

    def check(self, url: httpx.URL) -> None:
        key = str(url)
        if key in self.seen:
            raise RegistryAPIError(f"{self.what}: pagination loops back to {url.path}")
        if len(self.seen) >= MAX_PAGES:
            raise RegistryAPIError(f"{self.what}: more than {MAX_PAGES} pages; giving up")
        self.seen.add(key)
