"""The async face of a store: worker threads, bounded concurrency and retries around a backend.

One concern each, in layers: the backend does blocking I/O and sorts its errors; this wrapper runs
it in its own thread pool (so the event loop never blocks), caps how many operations are in flight
(so a slow store cannot absorb every thread), and retries transient faults with exponential back-off
and jitter, up to a deadline. Permanent faults and not-found pass straight through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from replication.errors import StoreUnavailableError
from replication.spec import StoreSpec
from replication.stores.base import Backend, ObjectInfo, ObjectVersion, StoreTransientError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    max_seconds: float = 60.0
    initial_wait: float = 0.2
    max_wait: float = 8.0


QUICK_CHECK = RetryPolicy(attempts=3, max_seconds=5.0, initial_wait=0.2, max_wait=1.0)


class Store:
    """An async store. Safe to share between tasks; close it when done."""

    def __init__(self, spec: StoreSpec, backend: Backend, concurrency: int = 8, retry: RetryPolicy | None = None):
        self.spec = spec
        self.name = spec.name
        self.backend = backend
        self.retry = retry or RetryPolicy()
        self._limit = asyncio.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"store-{spec.name}")
        # Counters for progress and metrics.
        self.bytes_up = 0
        self.bytes_down = 0
        self.objects_up = 0
        self.retries = 0

    @property
    def lock_days(self) -> int:
        return self.spec.object_lock_days

    async def _run(self, fn: Callable[..., T], *args: Any, policy: RetryPolicy | None = None) -> T:
        loop = asyncio.get_running_loop()
        policy = policy or self.retry
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(StoreTransientError),
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds),
            wait=wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with self._limit:
                        return await loop.run_in_executor(self._pool, fn, *args)
        except StoreTransientError as e:
            # The deadline may end the retries before the attempt limit does: say how many were made.
            tries = retrying.statistics.get("attempt_number", policy.attempts)
            raise StoreUnavailableError(self.name, f"unavailable after {tries} tries: {e}") from e
        raise AssertionError("unreachable")

    def _count_retry(self, _state: object) -> None:
        self.retries += 1

    async def check(self) -> None:
        """Reachable, and able to hold what we write? Retried briefly: a store that is down at the
        start of a round is set aside at once rather than after a minute of back-off."""
        await self._run(self.backend.check, self.spec.object_lock_days, policy=QUICK_CHECK)

    async def versioned(self) -> bool:
        return await self._run(lambda: self.backend.versioned)

    async def put(self, key: str, data: bytes, retain_until: datetime | None = None) -> str | None:
        version = await self._run(self.backend.put, key, data, retain_until)
        self.bytes_up += len(data)
        self.objects_up += 1
        return version

    async def get(self, key: str, version_id: str | None = None) -> bytes:
        data = await self._run(self.backend.get, key, version_id)
        self.bytes_down += len(data)
        return data

    async def get_range(self, key: str, offset: int, length: int, version_id: str | None = None) -> bytes:
        data = await self._run(self.backend.get_range, key, offset, length, version_id)
        self.bytes_down += len(data)
        return data

    async def stat(self, key: str) -> ObjectInfo | None:
        return await self._run(self.backend.stat, key)

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        return await self._run(self.backend.list_objects, prefix)

    async def list_versions(self, prefix: str) -> list[ObjectVersion]:
        return await self._run(self.backend.list_versions, prefix)

    async def delete(self, key: str, version_id: str | None = None) -> None:
        await self._run(self.backend.delete, key, version_id)

    async def retention(self, key: str, version_id: str | None = None) -> datetime | None:
        return await self._run(self.backend.retention, key, version_id)

    async def set_retention(self, key: str, until: datetime, version_id: str | None = None) -> None:
        await self._run(self.backend.set_retention, key, until, version_id)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.backend.close)
        self._pool.shutdown(wait=False, cancel_futures=True)
