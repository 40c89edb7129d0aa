"""Stores: one async interface (:class:`Store`) over a filesystem or S3 backend."""

from collections.abc import Callable, Sequence

from replication.errors import StorePermanentError
from replication.spec import StoreSpec
from replication.stores.base import Backend, ObjectInfo, ObjectVersion, StoreTransientError
from replication.stores.filesystem import FilesystemBackend
from replication.stores.layers import Layer
from replication.stores.store import RetryPolicy, Store


def make_backend(spec: StoreSpec) -> Backend:
    if spec.kind == "filesystem":
        if spec.path is None:
            raise StorePermanentError(spec.name, "a filesystem store needs a path")
        return FilesystemBackend(spec.name, spec.path)
    if spec.kind == "s3":
        from replication.stores.s3 import S3Backend  # boto3 is slow to import; only when needed

        return S3Backend(spec)
    raise StorePermanentError(spec.name, f"unknown store kind {spec.kind!r}")


def open_store(
    spec: StoreSpec,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    layers: Sequence[Callable[[Layer], Layer]] = (),
    probe_after: float | None = None,
) -> Store:
    """A :class:`Store` for ``spec``, with further ``layers`` outermost (see stores/layers.py).
    Nothing is contacted until the first operation. A store that fails or hangs is set aside for the
    rest of the run, or with ``probe_after`` (seconds) probed again after that long, doubling."""
    return Store(
        spec, make_backend(spec), concurrency=concurrency, retry=retry, layers=layers, probe_after=probe_after
    )


__all__ = [
    "Backend",
    "FilesystemBackend",
    "Layer",
    "ObjectInfo",
    "ObjectVersion",
    "RetryPolicy",
    "Store",
    "StoreTransientError",
    "make_backend",
    "open_store",
]
