"""An in-memory backend for fast unit tests of the engine. Never used by a configured store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from replication.errors import ObjectLockedError, ObjectNotFoundError, ObjectTooLargeError
from replication.stores.base import ObjectInfo, ObjectVersion, check_key, check_prefix


class MemoryBackend:
    def __init__(self, name: str = "memory", versioned: bool = False) -> None:
        self.name = name
        self.versioned = versioned
        self._lock = threading.Lock()
        # key -> list of (version id, bytes or None for a delete marker, retain_until, time)
        self._objects: dict[str, list[tuple[str, bytes | None, datetime | None, datetime]]] = {}
        self._seq = 0

    def check(self, object_lock_days: int) -> None:
        pass

    def _current(self, key: str) -> tuple[str, bytes | None, datetime | None, datetime]:
        versions = self._objects.get(check_key(self.name, key))
        if not versions or versions[-1][1] is None:
            raise ObjectNotFoundError(self.name, key)
        return versions[-1]

    def _version(self, key: str, version_id: str | None) -> bytes:
        if version_id is None:
            data = self._current(key)[1]
            assert data is not None
            return data
        for vid, data, _, _ in self._objects.get(key, []):
            if vid == version_id and data is not None:
                return data
        raise ObjectNotFoundError(self.name, f"{key}@{version_id}")

    def put(self, key: str, data: bytes, retain_until: datetime | None) -> str | None:
        with self._lock:
            self._seq += 1
            vid = f"v{self._seq}"
            entry = (vid, bytes(data), retain_until, datetime.now(UTC))
            versions = self._objects.setdefault(check_key(self.name, key), [])
            if self.versioned:
                versions.append(entry)
            else:
                versions[:] = [entry]
            return vid if self.versioned else None

    def get(self, key: str, version_id: str | None, limit: int) -> bytes:
        with self._lock:
            data = self._version(key, version_id)
        if len(data) > limit:
            raise ObjectTooLargeError(self.name, key, limit)
        return data

    def get_range(self, key: str, offset: int, length: int, version_id: str | None) -> bytes:
        with self._lock:
            return self._version(key, version_id)[offset : offset + length]

    def stat(self, key: str) -> ObjectInfo | None:
        with self._lock:
            try:
                vid, data, _, _ = self._current(key)
            except ObjectNotFoundError:
                return None
            assert data is not None
            return ObjectInfo(key, len(data), vid if self.versioned else None)

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        check_prefix(self.name, prefix)
        with self._lock:
            out = []
            for key, versions in self._objects.items():
                if key.startswith(prefix) and versions and versions[-1][1] is not None:
                    data = versions[-1][1]
                    out.append(ObjectInfo(key, len(data), last_modified=versions[-1][3]))
            return sorted(out, key=lambda o: o.key)

    def list_versions(self, prefix: str) -> list[ObjectVersion]:
        check_prefix(self.name, prefix)
        with self._lock:
            out = []
            for key, versions in sorted(self._objects.items()):
                if not key.startswith(prefix):
                    continue
                for i, (vid, data, _, when) in enumerate(versions):
                    latest = i == len(versions) - 1
                    out.append(ObjectVersion(key, vid, len(data or b""), latest, data is None, when))
            return out

    def delete(self, key: str, version_id: str | None) -> None:
        with self._lock:
            versions = self._objects.get(check_key(self.name, key))
            if not versions:
                return  # as on S3: deleting a missing object succeeds
            now = datetime.now(UTC)
            if version_id is None and self.versioned:
                self._seq += 1
                versions.append((f"v{self._seq}", None, None, now))
                return
            for i, (vid, _, until, _) in enumerate(versions):
                if version_id is None or vid == version_id:
                    if until is not None and until > now:
                        raise ObjectLockedError(self.name, f"delete {key} refused: locked until {until:%Y-%m-%d}")
                    del versions[i]
                    if not versions:
                        del self._objects[key]
                    return

    def retention(self, key: str, version_id: str | None) -> datetime | None:
        with self._lock:
            for vid, _, until, _ in reversed(self._objects.get(key, [])):
                if version_id is None or vid == version_id:
                    return until
            raise ObjectNotFoundError(self.name, key)

    def set_retention(self, key: str, until: datetime, version_id: str | None) -> None:
        with self._lock:
            versions = self._objects.get(key, [])
            for i, (vid, data, old, when) in enumerate(versions):
                if (version_id is None and i == len(versions) - 1) or vid == version_id:
                    if old is not None and until < old:
                        raise ObjectLockedError(self.name, f"retention of {key} cannot be shortened")
                    versions[i] = (vid, data, until, when)
                    return
            raise ObjectNotFoundError(self.name, key)

    def close(self) -> None:
        pass
