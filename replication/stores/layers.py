"""The layers of a store, one concern each, around a blocking :class:`Backend`.

Every operation is a call ``call(op, *args)`` naming a :class:`Backend` method (``put``, ``get``,
``list_objects``...; ``versioned`` for the property), so a layer that applies to every operation (a
retry policy, a concurrency limit, a circuit breaker, metrics) is a few lines and knows nothing of
the others. From the outside in, :class:`replication.stores.store.Store` stacks:

    extra layers (given by the caller: circuit breaker, metrics)
    Counting    bytes written and read, for progress and metrics
    Bounded     no read longer than the format allows for that kind of object
    Retrying    transient faults retried with back-off, up to a deadline
    Limited     at most N operations in flight
    Threaded    the backend's blocking calls in the store's own worker threads

A layer's ``call`` MUST pass the arguments on unchanged unless changing them is its concern, and MUST
NOT swallow an error it does not handle.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from replication.errors import ObjectTooLargeError, StoreUnavailableError
from replication.layout import read_cap
from replication.stores.base import Backend, StoreTransientError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    max_seconds: float = 60.0
    initial_wait: float = 0.2
    max_wait: float = 8.0


# A store that is down at the start of a round is set aside at once rather than after a minute.
QUICK_CHECK = RetryPolicy(attempts=3, max_seconds=5.0, initial_wait=0.2, max_wait=1.0)


class Layer:
    """A wrapper around the next layer; the base class passes every call through."""

    def __init__(self, inner: Layer) -> None:
        self.inner = inner

    async def call(self, op: str, *args: Any) -> Any:
        return await self.inner.call(op, *args)

    async def close(self) -> None:
        await self.inner.close()


class Threaded(Layer):
    """The bottom layer: runs the backend's blocking methods in a pool of its own, so a slow store
    never takes the threads of another, and the event loop never blocks."""

    def __init__(self, backend: Backend, workers: int) -> None:
        self.backend = backend
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"store-{backend.name}")

    async def call(self, op: str, *args: Any) -> Any:
        fn = (lambda: self.backend.versioned) if op == "versioned" else getattr(self.backend, op)
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.backend.close)
        self.pool.shutdown(wait=False, cancel_futures=True)


class Limited(Layer):
    def __init__(self, inner: Layer, concurrency: int) -> None:
        super().__init__(inner)
        self._limit = asyncio.Semaphore(concurrency)

    async def call(self, op: str, *args: Any) -> Any:
        async with self._limit:
            return await self.inner.call(op, *args)


class Retrying(Layer):
    """Transient faults retried with exponential back-off and jitter; what outlasts the policy is
    :class:`StoreUnavailableError`. Permanent faults, not-found and damage pass straight through."""

    def __init__(self, inner: Layer, store: str, policy: RetryPolicy) -> None:
        super().__init__(inner)
        self.store = store
        self.policy = policy
        self.retries = 0  # attempts that were retried, for metrics

    def _count_retry(self, _state: object) -> None:
        self.retries += 1

    async def call(self, op: str, *args: Any) -> Any:
        policy = QUICK_CHECK if op == "check" else self.policy
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
                    return await self.inner.call(op, *args)
        except StoreTransientError as e:
            # The deadline may end the retries before the attempt limit does: say how many were made.
            tries = retrying.statistics.get("attempt_number", policy.attempts)
            raise StoreUnavailableError(self.store, f"unavailable after {tries} tries: {e}") from e
        raise AssertionError("unreachable")


class Bounded(Layer):
    """Every read capped by what the format allows for the object's kind (``read_cap``), or tighter
    when the caller knows the size (a pack's, from its manifest). The backend stops reading past the
    cap; this layer checks the answer again, so a backend that overruns is caught too."""

    def __init__(self, inner: Layer, store: str) -> None:
        super().__init__(inner)
        self.store = store

    async def call(self, op: str, *args: Any) -> Any:
        if op == "get":
            key, version_id, limit = args
            cap = read_cap(key).limit
            limit = cap if limit is None else min(limit, cap)
            data = await self.inner.call(op, key, version_id, limit)
            if len(data) > limit:
                raise ObjectTooLargeError(self.store, key, limit)
            return data
        if op == "get_range":
            key, _offset, length, _version = args
            data = await self.inner.call(op, *args)
            if len(data) > max(length, 0):
                raise ObjectTooLargeError(self.store, key, length)
            return data
        return await self.inner.call(op, *args)


class Counting(Layer):
    """Bytes and objects written, bytes read, for progress and metrics; a refused read counts nothing."""

    def __init__(self, inner: Layer) -> None:
        super().__init__(inner)
        self.bytes_up = 0
        self.bytes_down = 0
        self.objects_up = 0

    async def call(self, op: str, *args: Any) -> Any:
        result = await self.inner.call(op, *args)
        if op == "put":
            self.bytes_up += len(args[1])
            self.objects_up += 1
        elif op in ("get", "get_range"):
            self.bytes_down += len(result)
        return result
