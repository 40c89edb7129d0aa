"""Where a mirror is published: a store's ``mirror_bucket`` (s3) or ``mirror_path`` (filesystem).

A target is hostile like the store it lives beside: what it returns is checked against the signed
manifest before anything is decided from it, and it is only ever asked for names this program
made (``check_name``). Reads are bounded (a manifest by ``MAX_MANIFEST``, a file by the size its
manifest entry says). One target's failure never touches another.
"""

import contextlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from embassy.mirror.errors import MirrorError
from embassy.mirror.paths import check_name
from replication.errors import ObjectNotFoundError, StoreError
from replication.fsutil import atomic_write
from replication.spec import StoreSpec
from replication.stores.s3 import S3Backend

CACHE_CONTROL = {"text/html": "public, max-age=300", "application/json": "public, max-age=300"}


class TargetError(MirrorError):
    """A target could not be read or written."""


class MirrorTarget(Protocol):
    name: str  # the store's

    def describe(self) -> str: ...

    def read(self, name: str, limit: int) -> bytes | None:
        """The file's bytes (at most ``limit`` + 1 of them are read), or None when absent."""

    def write(self, name: str, data: bytes, content_type: str) -> None: ...

    def delete(self, name: str) -> None: ...

    def names(self) -> dict[str, int]:
        """Every name the target holds, with its size (hostile: unchecked; it can only make a
        publication upload or delete more, never skip a file)."""

    def close(self) -> None: ...


def mirror_target(spec: StoreSpec) -> MirrorTarget | None:
    """The store's mirror target, or None when it has none configured."""
    if spec.kind == "s3" and spec.mirror_bucket:
        return BucketTarget(spec)
    if spec.kind == "filesystem" and spec.mirror_path is not None:
        return FolderTarget(spec.name, spec.mirror_path)
    return None


class FolderTarget:
    def __init__(self, store: str, root: Path) -> None:
        self.name = store
        self.root = root

    def describe(self) -> str:
        return f"folder {self.root}"

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def read(self, name: str, limit: int) -> bytes | None:
        try:
            fd = os.open(self._path(name), os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise TargetError(f"{self.name}: {self.root / name}: cannot read: {e.strerror}") from e
        with os.fdopen(fd, "rb") as f:
            return f.read(limit + 1)

    def write(self, name: str, data: bytes, content_type: str) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data, mode=0o644)
        except OSError as e:
            raise TargetError(f"{self.name}: {path}: cannot write: {e.strerror}") from e

    def delete(self, name: str) -> None:
        path = self._path(name)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        for parent in path.parents:  # folders left empty go too, up to the root
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def names(self) -> dict[str, int]:
        out = {}
        for dirpath, _dirs, files in os.walk(self.root):  # symlinks to folders are not followed
            for f in files:
                path = Path(dirpath) / f
                with contextlib.suppress(OSError):
                    out[str(path.relative_to(self.root))] = path.lstat().st_size
        return out

    def close(self) -> None:
        pass


class _MirrorBucket(S3Backend):
    """The store's endpoint and credentials, its ``mirror_bucket``; the plain S3 calls a mirror needs
    (object keys here are mirror names, which may start with ``.well-known/``)."""

    def __init__(self, spec: StoreSpec) -> None:
        super().__init__(replace(spec, bucket=spec.mirror_bucket))

    def get_bounded(self, key: str, limit: int) -> bytes:
        resp = self._call("get", key, self._client.get_object, Key=key)
        return bytes(resp["Body"].read(limit))

    def put_typed(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        self._call("put", key, self._client.put_object, Key=key, Body=data, ContentType=content_type,
                   CacheControl=cache_control)  # fmt: skip

    def delete_key(self, key: str) -> None:
        self._call("delete", key, self._client.delete_object, Key=key)

    def all_keys(self) -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                out.update((str(obj["Key"]), int(obj["Size"])) for obj in page.get("Contents", []))
        except Exception as e:
            raise self._error(e, "", "list") from e
        return out


class BucketTarget:
    """Objects with their Content-Type (and a Cache-Control), so an S3 website endpoint serves them
    as the site does."""

    def __init__(self, spec: StoreSpec) -> None:
        self.name = spec.name
        self._bucket = _MirrorBucket(spec)

    def describe(self) -> str:
        return f"bucket {self._bucket.bucket}"

    def _fail(self, e: Exception) -> TargetError:
        return TargetError(str(e) if isinstance(e, StoreError) else f"{self.name}: {type(e).__name__}: {e}")

    def read(self, name: str, limit: int) -> bytes | None:
        try:
            return self._bucket.get_bounded(check_name(name), limit + 1)
        except ObjectNotFoundError:
            return None
        except Exception as e:
            raise self._fail(e) from e

    def write(self, name: str, data: bytes, content_type: str) -> None:
        cache = CACHE_CONTROL.get(content_type.split(";")[0], "public, max-age=3600")
        try:
            self._bucket.put_typed(check_name(name), data, content_type, cache)
        except Exception as e:
            raise self._fail(e) from e

    def delete(self, name: str) -> None:
        try:
            self._bucket.delete_key(check_name(name))
        except Exception as e:
            raise self._fail(e) from e

    def names(self) -> dict[str, int]:
        try:
            return self._bucket.all_keys()
        except Exception as e:
            raise self._fail(e) from e

    def close(self) -> None:
        self._bucket.close()
