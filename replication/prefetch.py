"""Reads started before the keyring is open, while its key derivation (~0.5 s of one core) runs.

Reading a pack needs no key: packs are ciphertext named by the BLAKE3 of their bytes, and whoever
takes the bytes checks them as if it had read them itself. verify uses this to list its stores and
read its first packs meanwhile (verify.py).

Tried for restore and dropped: reading the packs a restore starts with (named by a hint the last
backup left in the cache) gained nothing measurable there, and held ~25 MiB more at the peak.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Prefetch(Generic[T]):
    """Reads started early, by key; each result is taken once, or dropped."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Future[T]] = {}

    def start(self, key: str, read: Callable[[], Awaitable[T]]) -> None:
        if key not in self._tasks:
            self._tasks[key] = asyncio.ensure_future(read())

    def started(self) -> set[str]:
        return set(self._tasks)

    async def take(self, key: str) -> T | None:
        """The read's result (its error raised), or None if it was not started."""
        task = self._tasks.pop(key, None)
        return None if task is None else await task

    def drop(self) -> None:
        for task in self._tasks.values():
            if task.done() and not task.cancelled():
                task.exception()  # not needed after all: retrieved, so never reported as lost
            task.cancel()
        self._tasks.clear()


__all__ = ["Prefetch"]
