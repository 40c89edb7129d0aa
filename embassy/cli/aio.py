"""Running a command's coroutine to completion."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, but the result never sits in the main task.

    On its way out, Python 3.11's ``asyncio.run`` formats the repr of the finished main task (a
    ``signal.getsignal`` detour builds an error message out of the SIGINT handler that holds it),
    and a task's repr includes its result in full. A verify report of a large repository runs to
    megabytes of repr: 20-50 ms of CPU on every run, for a string nobody reads.
    """
    box: list[T] = []

    async def boxed() -> None:
        box.append(await main)

    asyncio.run(boxed())
    return box[0]
