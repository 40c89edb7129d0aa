"""The store contract: a small synchronous backend interface and the values it returns.

A backend stores opaque objects under slash-separated keys. Its methods are blocking and called
from worker threads by :class:`replication.stores.store.Store`, which adds retries, bounded
concurrency and the async interface; a backend does none of that itself.

Every backend maps its failures onto three errors, and the conformance tests hold it to that:
- :class:`ObjectNotFoundError` - the key (or version) does not exist;
- :class:`StoreTransientError` - may succeed if tried again (timeouts, 5xx, connection resets);
- :class:`StorePermanentError` - will not (bad credentials, access denied, no such bucket,
  a locked object), raised at once;
- :class:`ObjectTooLargeError` - an answer longer than the read's limit (damage, not a fault).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from replication.errors import StoreError, StorePermanentError

_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class StoreTransientError(StoreError):
    """A fault worth retrying; after the retries it surfaces as StoreUnavailableError."""


class StoreHungError(StoreTransientError):
    """A request that got no answer within the store's deadline (``request_timeout``)."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    version_id: str | None = None
    # When the current version was written, by the store's clock (listings give it; stat may not).
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    key: str
    version_id: str
    size: int
    is_latest: bool
    is_delete_marker: bool
    last_modified: datetime


def check_key(store: str, key: str) -> str:
    """Refuse keys that could escape a folder or confuse a backend ('..', absolute, odd characters).

    No part may start with '.': that namespace holds the filesystem backend's temp files, which
    it never lists, so such an object could be written but never listed there.
    """
    if not _KEY.match(key) or any(part.startswith(".") for part in key.split("/")):
        raise StorePermanentError(store, f"invalid object key {key!r}")
    return key


def check_prefix(store: str, prefix: str) -> str:
    """A listing prefix: empty, or the start of a valid key (it may end with '/')."""
    if (prefix and not _KEY.match(prefix.removesuffix("/"))) or any(p.startswith(".") for p in prefix.split("/")):
        raise StorePermanentError(store, f"invalid listing prefix {prefix!r}")
    return prefix


class Backend(Protocol):
    name: str

    @property
    def versioned(self) -> bool:
        """True when overwrites and deletes keep older versions (S3 with versioning or Object Lock)."""
        ...

    def check(self, object_lock_days: int) -> None:
        """Fail unless the store is reachable, exists and can enforce ``object_lock_days``."""
        ...

    def put(self, key: str, data: bytes, retain_until: datetime | None) -> str | None:
        """Store ``data`` under ``key``; returns the new version id where the store has versions."""
        ...

    def get(self, key: str, version_id: str | None, limit: int) -> bytes:
        """The object's bytes. When it is longer than ``limit``, raise :class:`ObjectTooLargeError`
        having read at most ``limit + 1`` bytes (the size a store announces decides first)."""
        ...

    def get_range(self, key: str, offset: int, length: int, version_id: str | None) -> bytes: ...

    def stat(self, key: str) -> ObjectInfo | None:
        """Size of the current version, or None when the key does not exist."""
        ...

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Current objects whose key starts with ``prefix``, in key order, with ``last_modified``."""
        ...

    def list_versions(self, prefix: str) -> list[ObjectVersion]:
        """Every version and delete marker under ``prefix`` (an unversioned store lists one each)."""
        ...

    def delete(self, key: str, version_id: str | None) -> None:
        """Remove the object (on a versioned store without ``version_id``: add a delete marker)."""
        ...

    def retention(self, key: str, version_id: str | None) -> datetime | None:
        """Until when the object is locked, or None."""
        ...

    def set_retention(self, key: str, until: datetime, version_id: str | None) -> None:
        """Extend the object's compliance retention to ``until`` (never shortens it)."""
        ...

    def close(self) -> None: ...
