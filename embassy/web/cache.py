"""Rendered responses kept in memory, dropped wholesale when the content version changes.

An entry holds the body and its gzip, a strong ETag per representation and prebuilt headers, so
a hit costs a dict lookup, one header comparison and a Response object. The content version is
read from the shared mmap counter on every lookup; a change through any worker (or the CLI)
empties every worker's cache on its next request.
"""

import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

MAX_ENTRIES = 4096
GZIP_MIN = 256

# Every response carries these (docs/web.md). Cached responses are built with them so the
# middleware need not touch their headers on the hot path; it adds them to every other response.
CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Server": "embassy",  # not the framework and its version
}


class CachedWebResponse(web.Response):
    """A response built from a cache entry: it already carries the security headers."""


def http_date(iso: str) -> str:
    """``2026-11-24T06:30:00Z`` as an HTTP date."""
    ts = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    return formatdate(ts, usegmt=True)


@dataclass(slots=True)
class CachedResponse:
    status: int
    body: bytes
    gz: bytes | None
    etag: str
    headers: CIMultiDictProxy[str]
    gz_headers: CIMultiDictProxy[str] | None
    not_modified_headers: CIMultiDictProxy[str]
    last_modified: str
    extra: dict[str, object] = field(default_factory=dict)

    def respond(self, request: web.Request) -> web.Response:
        h = request.headers
        inm = h.get("If-None-Match")
        if self.status == 200 and inm is not None and self._etag_matches(inm):
            return CachedWebResponse(status=304, headers=self.not_modified_headers)
        if self.status == 200 and inm is None:
            ims = h.get("If-Modified-Since")
            if ims is not None and ims == self.last_modified:
                return CachedWebResponse(status=304, headers=self.not_modified_headers)
        if self.gz is not None and "gzip" in h.get("Accept-Encoding", ""):
            return CachedWebResponse(status=self.status, body=self.gz, headers=self.gz_headers)
        return CachedWebResponse(status=self.status, body=self.body, headers=self.headers)

    def _etag_matches(self, header: str) -> bool:
        if header.strip() == "*":
            return True
        tags = {t.strip().removeprefix("W/") for t in header.split(",")}
        return self.etag in tags or self.etag[:-1] + '-gz"' in tags


def build_entry(
    body: bytes,
    content_type: str,
    last_modified_iso: str,
    *,
    status: int = 200,
    cache_control: str = "public, max-age=60",
    extra_headers: dict[str, str] | None = None,
) -> CachedResponse:
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    etag = f'"{digest}"'
    last_modified = http_date(last_modified_iso)
    base = CIMultiDict(
        {"Content-Type": content_type, "Cache-Control": cache_control, "Vary": "Accept-Encoding", **SECURITY_HEADERS}
    )
    if status == 200:
        base["Last-Modified"] = last_modified
    base.update(extra_headers or {})
    plain = CIMultiDict(base)
    if status == 200:
        plain["ETag"] = etag
    gz = None
    gz_headers = None
    if len(body) >= GZIP_MIN:
        gz = gzip.compress(body, compresslevel=6, mtime=0)
        gz_headers = CIMultiDict(base)
        gz_headers["Content-Encoding"] = "gzip"
        if status == 200:
            gz_headers["ETag"] = f'"{digest}-gz"'
    nm = CIMultiDict({"Cache-Control": cache_control, "Vary": "Accept-Encoding", "ETag": etag, **SECURITY_HEADERS})
    nm.update(extra_headers or {})
    return CachedResponse(
        status,
        body,
        gz,
        etag,
        CIMultiDictProxy(plain),
        CIMultiDictProxy(gz_headers) if gz_headers is not None else None,
        CIMultiDictProxy(nm),
        last_modified,
    )


class PageCache:
    """``path -> CachedResponse`` for one content version."""

    def __init__(self, current_version: Callable[[], int]) -> None:
        self._current_version = current_version
        self.version = -1
        self._entries: dict[str, CachedResponse] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> CachedResponse | None:
        v = self._current_version()
        if v != self.version:
            self._entries.clear()
            self.version = v
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, key: str, entry: CachedResponse, version: int) -> None:
        if version != self.version:  # rendered from an older snapshot: serve it once, keep nothing
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = entry

    def __len__(self) -> int:
        return len(self._entries)
