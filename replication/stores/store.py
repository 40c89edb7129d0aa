"""The async face of a store: a backend with its layers (replication/stores/layers.py) around it.

The public methods are the :class:`Backend` contract made async. Each concern is a layer of its
own: worker threads (so the event loop never blocks), a cap on operations in flight (so a slow
store cannot absorb every thread), retries of transient faults with exponential back-off and
jitter up to a deadline, a deadline on every request (``StoreSpec.request_timeout``), read caps from
the format, byte counters, and a circuit breaker that sets aside a store that outlasted its retries
or hung (for the rest of the run, or until a probe after ``probe_after`` seconds answers). Further
layers (metrics) are passed in ``layers``, outermost last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

from replication.spec import StoreSpec
from replication.stores.base import Backend, ObjectInfo, ObjectVersion
from replication.stores.layers import (
    QUICK_CHECK,
    Bounded,
    Breaker,
    BreakerState,
    Counting,
    Deadline,
    Layer,
    Limited,
    Retrying,
    RetryPolicy,
    Threaded,
)


class Store:
    """An async store. Safe to share between tasks; close it when done."""

    def __init__(
        self,
        spec: StoreSpec,
        backend: Backend,
        concurrency: int = 8,
        retry: RetryPolicy | None = None,
        layers: Sequence[Callable[[Layer], Layer]] = (),
        probe_after: float | None = None,
    ):
        self.spec = spec
        self.name = spec.name
        self.backend = backend
        self.retry = retry or RetryPolicy()
        self._threads = Threaded(backend, concurrency)
        deadline = Deadline(self._threads, spec.name, spec.request_timeout)
        self._retrying = Retrying(Limited(deadline, concurrency), spec.name, self.retry)
        self._counts = Counting(Bounded(self._retrying, spec.name))
        self._breaker = Breaker(self._counts, spec.name, probe_after)
        self._top: Layer = self._breaker
        for wrap in layers:
            self._top = wrap(self._top)

    @property
    def lock_days(self) -> int:
        return self.spec.object_lock_days

    @property
    def bytes_up(self) -> int:
        return self._counts.bytes_up

    @property
    def bytes_down(self) -> int:
        return self._counts.bytes_down

    @property
    def objects_up(self) -> int:
        return self._counts.objects_up

    @property
    def retries(self) -> int:
        """Store requests retried after a transient fault (for metrics)."""
        return self._retrying.retries

    @property
    def breaker(self) -> BreakerState:
        """Open once the store outlasted its retries or hung: then it is set aside (see ``Breaker``)."""
        return self._breaker.state

    async def check(self) -> None:
        """Reachable, and able to hold what we write? Retried briefly (``QUICK_CHECK``)."""
        await self._top.call("check", self.spec.object_lock_days)

    async def versioned(self) -> bool:
        return cast(bool, await self._top.call("versioned"))

    async def put(self, key: str, data: bytes, retain_until: datetime | None = None) -> str | None:
        return cast("str | None", await self._top.call("put", key, data, retain_until))

    async def get(self, key: str, version_id: str | None = None, *, max_bytes: int | None = None) -> bytes:
        """The object's bytes; raises :class:`ObjectTooLargeError` when it is longer than the format
        allows for its kind (``layout.read_cap``) or than ``max_bytes``, having read no more."""
        return cast(bytes, await self._top.call("get", key, version_id, max_bytes))

    async def get_range(self, key: str, offset: int, length: int, version_id: str | None = None) -> bytes:
        return cast(bytes, await self._top.call("get_range", key, offset, length, version_id))

    async def stat(self, key: str) -> ObjectInfo | None:
        return cast("ObjectInfo | None", await self._top.call("stat", key))

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        return cast("list[ObjectInfo]", await self._top.call("list_objects", prefix))

    async def list_versions(self, prefix: str) -> list[ObjectVersion]:
        return cast("list[ObjectVersion]", await self._top.call("list_versions", prefix))

    async def delete(self, key: str, version_id: str | None = None) -> None:
        await self._top.call("delete", key, version_id)

    async def retention(self, key: str, version_id: str | None = None) -> datetime | None:
        return cast("datetime | None", await self._top.call("retention", key, version_id))

    async def set_retention(self, key: str, until: datetime, version_id: str | None = None) -> None:
        await self._top.call("set_retention", key, until, version_id)

    async def close(self) -> None:
        await self._top.close()


__all__ = ["QUICK_CHECK", "RetryPolicy", "Store"]
