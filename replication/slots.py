"""A bound on packs in flight, shared by restores that run side by side, handed out biggest first.

Each pack held costs its download (~8 MiB) plus its decoded bytes, so one bound over every restore
keeps memory flat. Which waiting pack gets a freed slot matters for time: a plain semaphore hands
slots out in arrival order, so the registry whose manifest loaded first takes them all, and the
packs that decode to the most bytes (those of large files) may start last and leave one core idle
at the end. Here the waiter with the most bytes to write goes first (longest job first), across
every restore sharing the slots.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PackSlots:
    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("at least one slot")
        self._free = slots
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def slot(self, size: int) -> AsyncIterator[None]:
        """Hold one slot for a job of ``size`` bytes (bigger jobs are served first)."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (-size, next(self._order), waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # handed a slot just as it was cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            waiter = heapq.heappop(self._waiting)[2]
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


__all__ = ["PackSlots"]
