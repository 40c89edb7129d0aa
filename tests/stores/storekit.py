"""Building async stores over each backend for the store tests (real SeaweedFS for S3, never a mock)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dev_stores import DevStore

from replication.errors import StoreUnavailableError
from replication.spec import S3Credentials, StoreSpec
from replication.stores import FilesystemBackend, RetryPolicy, Store
from replication.stores.base import Backend
from replication.stores.memory import MemoryBackend
from replication.stores.s3 import S3Backend

# Short waits so that a fault the tests do not expect fails fast instead of stalling the suite.
QUICK = RetryPolicy(attempts=3, max_seconds=10, initial_wait=0.01, max_wait=0.05)


def s3_spec(
    dev: DevStore,
    bucket: str,
    name: str = "s3",
    lock_days: int = 0,
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> StoreSpec:
    return StoreSpec(
        name,
        "s3",
        "LU",
        lock_days,
        endpoint=endpoint or dev.endpoint,
        bucket=bucket,
        credentials=S3Credentials(access_key or dev.access_key, secret_key or dev.secret_key),
    )


def make_store(spec: StoreSpec, backend: Backend, retry: RetryPolicy = QUICK) -> Store:
    return Store(spec, backend, concurrency=8, retry=retry)


def filesystem_store(root: Path, name: str = "fs") -> Store:
    return make_store(StoreSpec(name, "filesystem", path=root), FilesystemBackend(name, root))


def memory_store(name: str = "mem", versioned: bool = False, lock_days: int = 0) -> Store:
    return make_store(StoreSpec(name, "filesystem", "", lock_days), MemoryBackend(name, versioned=versioned))


def s3_store(spec: StoreSpec, retry: RetryPolicy = QUICK, **backend_options: float) -> Store:
    return make_store(spec, S3Backend(spec, **backend_options), retry)  # type: ignore[arg-type]


def close_now(store: Store) -> None:
    """Close outside an event loop (fixture teardown)."""
    store.backend.close()
    store._threads.pool.shutdown(wait=True)


async def failed_get(store: Store, key: str = "data/obj", close: bool = True) -> tuple[StoreUnavailableError, float]:
    """The error ``store.get(key)`` must end in, and how long it took; the store closed after it."""
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as e:
            await store.get(key)
        return e.value, time.monotonic() - started
    finally:
        if close:
            await store.close()
