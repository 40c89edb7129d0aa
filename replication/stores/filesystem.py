"""A store in a local or mounted folder (a USB disk, an NFS share, the demo's var/stores/).

Writes are atomic (temp file, fsync, rename, fsync folder), so a crash never leaves a half-written
object under its final name. It has no versions and cannot lock objects: the configuration refuses
``object_lock_days`` for filesystem stores.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from replication.errors import ObjectNotFoundError, ObjectTooLargeError, StorePermanentError
from replication.fsutil import atomic_write
from replication.stores.base import ObjectInfo, ObjectVersion, StoreTransientError, check_key, check_prefix


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, UTC)


class FilesystemBackend:
    versioned = False

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(self.name, key)

    def _os_error(self, e: OSError, key: str) -> Exception:
        if isinstance(e, FileNotFoundError | NotADirectoryError | IsADirectoryError):
            return ObjectNotFoundError(self.name, key)
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return StorePermanentError(self.name, f"{key}: {e.strerror}")
        if e.errno == errno.ENOSPC:
            return StorePermanentError(self.name, f"{key}: no space left on the store's disk")
        return StoreTransientError(self.name, f"{key}: {e.strerror or e}")

    def check(self, object_lock_days: int) -> None:
        if object_lock_days:
            raise StorePermanentError(self.name, "a filesystem store cannot lock objects; set object_lock_days = 0")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorePermanentError(self.name, f"cannot create {self.root}: {e.strerror}") from e
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorePermanentError(self.name, f"{self.root} is not writable")

    def put(self, key: str, data: bytes, retain_until: datetime | None) -> str | None:
        if retain_until is not None:
            raise StorePermanentError(self.name, "a filesystem store cannot lock objects")
        try:
            atomic_write(self._path(key), data)
        except OSError as e:
            raise self._os_error(e, key) from e
        return None

    def get(self, key: str, version_id: str | None, limit: int) -> bytes:
        try:
            with self._path(key).open("rb") as f:
                if os.fstat(f.fileno()).st_size > limit:
                    raise ObjectTooLargeError(self.name, key, limit)
                data = f.read(limit + 1)  # the file may have grown since
        except OSError as e:
            raise self._os_error(e, key) from e
        if len(data) > limit:
            raise ObjectTooLargeError(self.name, key, limit)
        return data

    def get_range(self, key: str, offset: int, length: int, version_id: str | None) -> bytes:
        try:
            with self._path(key).open("rb") as f:
                f.seek(offset)
                return f.read(length)
        except OSError as e:
            raise self._os_error(e, key) from e

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise self._os_error(e, key) from e
        if not stat.S_ISREG(st.st_mode):
            return None  # a folder of keys is not an object
        return ObjectInfo(key, st.st_size)

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        check_prefix(self.name, prefix)
        out: list[ObjectInfo] = []
        base = self.root
        # Walk only the folder the prefix points into, not the whole store.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = base / folder if folder else base
        if not start.is_dir():
            return out
        try:
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames.sort()
                rel_dir = os.path.relpath(dirpath, base)
                for fn in filenames:
                    if fn.startswith("."):
                        continue  # temp files of writes in progress
                    key = fn if rel_dir == "." else f"{rel_dir}/{fn}"
                    if key.startswith(prefix):
                        with contextlib.suppress(FileNotFoundError):
                            st = os.stat(os.path.join(dirpath, fn))
                            out.append(ObjectInfo(key, st.st_size, last_modified=_mtime(st)))
        except OSError as e:
            raise self._os_error(e, prefix) from e
        out.sort(key=lambda o: o.key)
        return out

    def list_versions(self, prefix: str) -> list[ObjectVersion]:
        out = []
        for info in self.list_objects(prefix):
            mtime = datetime.fromtimestamp(self._path(info.key).stat().st_mtime, UTC)
            out.append(ObjectVersion(info.key, "null", info.size, True, False, mtime))
        return out

    def delete(self, key: str, version_id: str | None) -> None:
        # Deleting a missing object succeeds, as on S3: a retried delete must not fail.
        try:
            self._path(key).unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as e:
            raise self._os_error(e, key) from e

    def retention(self, key: str, version_id: str | None) -> datetime | None:
        return None

    def set_retention(self, key: str, until: datetime, version_id: str | None) -> None:
        raise StorePermanentError(self.name, "a filesystem store cannot lock objects")

    def close(self) -> None:
        pass
