"""The shared bound on packs in flight: never more than its slots, biggest waiting job first."""

from __future__ import annotations

import asyncio

import pytest

from replication.slots import PackSlots


async def test_slots_bound_jobs_and_serve_the_biggest_waiter_first() -> None:
    slots = PackSlots(2)
    release = asyncio.Event()
    running = 0
    most = 0
    started: list[str] = []

    async def job(name: str, size: int) -> None:
        nonlocal running, most
        async with slots.slot(size):
            started.append(name)
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(job(n, s)) for n, s in (("a", 1), ("b", 1), ("small", 5), ("big", 50), ("mid", 20))]
    await asyncio.sleep(0.01)
    assert started == ["a", "b"]  # free slots go at once, in arrival order
    release.set()
    await asyncio.gather(*tasks)
    assert started == ["a", "b", "big", "mid", "small"]
    assert most == 2


async def test_a_cancelled_waiter_gives_up_its_place_and_a_handed_slot_is_passed_on() -> None:
    slots = PackSlots(1)
    gate = asyncio.Event()
    order: list[str] = []

    async def job(name: str, size: int) -> None:
        async with slots.slot(size):
            order.append(name)
            await gate.wait()

    first = asyncio.create_task(job("first", 1))
    await asyncio.sleep(0.01)
    doomed = asyncio.create_task(job("doomed", 100))
    later = asyncio.create_task(job("later", 1))
    await asyncio.sleep(0.01)
    doomed.cancel()
    gate.set()
    await asyncio.gather(first, later)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert order == ["first", "later"]
    async with slots.slot(1):  # the one slot is free again: nothing leaked
        pass


def test_slots_need_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        PackSlots(0)
