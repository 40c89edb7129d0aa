"""The layers of a store, one concern each, around a blocking :class:`Backend`.

Every operation is a call ``call(op, *args)`` naming a :class:`Backend` method (``put``, ``get``,
``list_objects``...; ``versioned`` for the property), so a layer that applies to every operation (a
retry policy, a concurrency limit, a circuit breaker, metrics) is a few lines and knows nothing of
the others. From the outside in, :class:`replication.stores.store.Store` stacks:

    extra layers (given by the caller: metrics)
    Breaker     a store that outlasted its retries or hung is set aside: later calls fail at once
    Counting    bytes written and read, for progress and metrics
    Bounded     no read longer than the format allows for that kind of object
    Retrying    transient faults retried with back-off, up to a deadline
    Limited     at most N operations in flight
    Deadline    a request with no answer within the store's ``request_timeout`` has failed
    Threaded    the backend's blocking calls in the store's own worker threads

A layer's ``call`` MUST pass the arguments on unchanged unless changing them is its concern, and MUST
NOT swallow an error it does not handle.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import thread as _futures_thread
from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from replication.errors import ObjectTooLargeError, ReplicationError, StoreUnavailableError
from replication.layout import read_cap
from replication.stores.base import Backend, StoreHungError, StoreTransientError


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


class _AbandonablePool(ThreadPoolExecutor):
    """A thread pool whose workers are daemon threads the interpreter does not join on exit.

    A request to a store that hangs may block its thread until the backend's socket timeout; the
    caller has long given up on it (:class:`Deadline`), and the process must be able to end (Ctrl-C
    within a second) without waiting for it. The standard pool joins every worker at exit, so this
    one starts its workers itself, as the standard one does (CPython 3.11-3.13), minus the join."""

    def _adjust_thread_count(self) -> None:
        if self._idle_semaphore.acquire(timeout=0):
            return
        if len(self._threads) >= self._max_workers:
            return
        queue = self._work_queue

        def wake(_: object, q: Any = queue) -> None:
            q.put(None)

        worker = threading.Thread(
            name=f"{self._thread_name_prefix}_{len(self._threads)}",
            target=_futures_thread._worker,
            args=(weakref.ref(self, wake), queue, self._initializer, self._initargs),
            daemon=True,
        )
        worker.start()
        self._threads.add(worker)  # type: ignore[attr-defined]


class Threaded(Layer):
    """The bottom layer: runs the backend's blocking methods in a pool of its own, so a slow store
    never takes the threads of another, and the event loop never blocks."""

    def __init__(self, backend: Backend, workers: int) -> None:
        self.backend = backend
        self.pool = _AbandonablePool(max_workers=workers, thread_name_prefix=f"store-{backend.name}")

    async def call(self, op: str, *args: Any) -> Any:
        fn = (lambda: self.backend.versioned) if op == "versioned" else getattr(self.backend, op)
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.backend.close)
        self.pool.shutdown(wait=False, cancel_futures=True)


LISTING_FACTOR = 6


class Deadline(Layer):
    """A request that gets no answer within ``seconds`` has failed: :class:`StoreHungError`, a
    transient fault. The backend's worker thread may still be blocked in it; it is abandoned (the
    store's pool never holds up the process's exit, see :class:`Threaded`), and the backend's own
    socket timeouts free it later."""

    def __init__(self, inner: Layer, store: str, seconds: float) -> None:
        super().__init__(inner)
        self.store = store
        self.seconds = seconds

    async def call(self, op: str, *args: Any) -> Any:
        # A listing is one call of many pages, each a request of its own (an S3 backend's socket
        # timeout catches a page that gets no answer): the whole call gets more time.
        seconds = self.seconds * LISTING_FACTOR if op.startswith("list_") else self.seconds
        try:
            async with asyncio.timeout(seconds):
                return await self.inner.call(op, *args)
        except TimeoutError as e:
            raise StoreHungError(self.store, f"{op}: no answer within {seconds:g} s") from e


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
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds),
            wait=wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
            retry=retry_if_exception_type(StoreTransientError) & retry_if_not_exception_type(StoreHungError),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self.inner.call(op, *args)
        except StoreHungError as e:
            # A store that accepts requests and never answers would hold the caller for every retry's
            # deadline; one is enough to set it aside (the breaker above probes it later).
            raise StoreUnavailableError(self.store, f"hung: {e.message}") from e
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


@dataclass(frozen=True, slots=True)
class BreakerState:
    """What metrics and reports show of a store's breaker."""

    open: bool
    reason: str | None
    opened_at: float | None  # time.time() when it last opened
    failures: int  # consecutive failures that reached the breaker


class Breaker(Layer):
    """A circuit breaker: the first :class:`StoreUnavailableError` (the retries ran out, or the store
    hung) opens it, and while it is open every call fails at once with StoreUnavailableError saying
    the store was set aside, so a failing store costs the other stores' work nothing more.

    With ``probe_after`` None (one-shot commands) it stays open for the rest of the run. Otherwise
    (the server's continuous mode) after ``probe_after`` seconds one call is let through as a probe:
    an answer closes the breaker, a failure opens it again for twice as long, up to ``probe_max``.
    Permanent faults, not-found and damage are answers, not outages: they never open it, and a
    probe that gets one closes it."""

    def __init__(
        self, inner: Layer, store: str, probe_after: float | None = None, probe_max: float = 600.0
    ) -> None:
        super().__init__(inner)
        self.store = store
        self.probe_after = probe_after
        self.probe_max = probe_max
        self._wait = probe_after or 0.0
        self._reason: str | None = None
        self._opened_at: float | None = None
        self._retry_at = 0.0  # time.monotonic() when the next probe may go
        self._probing = False
        self.failures = 0

    @property
    def state(self) -> BreakerState:
        return BreakerState(self._reason is not None, self._reason, self._opened_at, self.failures)

    def _may_probe(self) -> bool:
        return self.probe_after is not None and not self._probing and time.monotonic() >= self._retry_at

    async def call(self, op: str, *args: Any) -> Any:
        probe = False
        if self._reason is not None:
            if not self._may_probe():
                until = "for this run" if self.probe_after is None else "until its next probe"
                raise StoreUnavailableError(self.store, f"set aside {until} ({self._reason})")
            probe = self._probing = True
        try:
            result = await self.inner.call(op, *args)
        except StoreUnavailableError as e:
            self.failures += 1
            if self._reason is None:
                self._opened_at = time.time()
            elif probe:
                self._wait = min(self._wait * 2, self.probe_max)
            self._reason = e.message
            self._retry_at = time.monotonic() + self._wait
            raise
        except ReplicationError:
            self._answered()  # not-found, refused, damaged: answers all the same
            raise
        finally:
            if probe:
                self._probing = False
        self._answered()
        return result

    def _answered(self) -> None:
        if self._reason is not None:
            self._reason, self._opened_at, self._wait = None, None, self.probe_after or 0.0
        self.failures = 0
