"""A store's deadline and circuit breaker, with a fault-injecting proxy in front of a real SeaweedFS.

A request that gets no answer within the store's ``request_timeout`` has failed, at once and without
the retries a hang would multiply; the store is then set aside (every later call fails at once), for
the rest of the run or, with ``probe_after``, until a probe after a back-off answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from conftest import fresh_bucket
from dev_stores import DevStore
from faultproxy import FaultProxy
from storekit import failed_get, s3_spec

from replication.errors import ObjectNotFoundError, StoreUnavailableError
from replication.stores import RetryPolicy, Store
from replication.stores.s3 import S3Backend

POLICY = RetryPolicy(attempts=4, max_seconds=30, initial_wait=0.01, max_wait=0.05)


@pytest.fixture
def bucket(seaweed: list[DevStore]) -> str:
    name = fresh_bucket(seaweed[0])
    seaweed[0].client().put_object(Bucket=name, Key="data/obj", Body=b"payload")
    return name


def _store(dev: DevStore, proxy: FaultProxy, bucket: str, timeout: float, probe_after: float | None = None) -> Store:
    spec = dataclasses.replace(s3_spec(dev, bucket, name="lu", endpoint=proxy.endpoint), request_timeout=timeout)
    return Store(spec, S3Backend(spec), retry=POLICY, probe_after=probe_after)


async def test_a_hung_request_fails_at_its_deadline_and_sets_the_store_aside(
    seaweed: list[DevStore], bucket: str
) -> None:
    async with FaultProxy(seaweed[0].ports["s3"], "hang", faults=None) as proxy:
        store = _store(seaweed[0], proxy, bucket, timeout=1.0)
        try:
            error, elapsed = await failed_get(store, close=False)
            assert str(error) == "store lu: hung: get: no answer within 1 s"
            assert 1.0 <= elapsed < 2.0
            assert len(proxy.requests) == 1  # a hang is not retried: one deadline is enough
            state = store.breaker
            assert state.open and state.reason == "hung: get: no answer within 1 s" and state.failures == 1
            # Set aside: every later call fails at once, without a request.
            started = time.monotonic()
            for call in (store.stat("data/obj"), store.list_objects("data/"), store.check()):
                with pytest.raises(StoreUnavailableError, match=r"^store lu: set aside for this run \(hung: get"):
                    await call
            assert time.monotonic() - started < 0.1
            assert len(proxy.requests) == 1
        finally:
            started = time.monotonic()
            await store.close()  # the hung worker thread is abandoned, not waited for
            assert time.monotonic() - started < 1.0


async def test_answers_that_are_not_outages_leave_the_breaker_closed(seaweed: list[DevStore], bucket: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"]) as proxy:
        store = _store(seaweed[0], proxy, bucket, timeout=5.0)
        try:
            with pytest.raises(ObjectNotFoundError):
                await store.get("data/missing")
            assert not store.breaker.open
            assert await store.get("data/obj") == b"payload"
        finally:
            await store.close()


async def test_a_set_aside_store_is_probed_with_back_off_until_it_answers(seaweed: list[DevStore], bucket: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"], "hang", faults=2) as proxy:
        store = _store(seaweed[0], proxy, bucket, timeout=0.5, probe_after=0.3)
        try:
            with pytest.raises(StoreUnavailableError, match="hung"):
                await store.get("data/obj")
            opened = time.monotonic()
            # Until the probe is due every call fails at once and sends nothing.
            with pytest.raises(StoreUnavailableError, match=r"set aside until its next probe \(hung"):
                await store.get("data/obj")
            assert len(proxy.requests) == 1
            # The first probe hangs too (the proxy's second fault): the back-off doubles.
            outcomes: list[tuple[float, str]] = []
            deadline = opened + 10
            while time.monotonic() < deadline:
                try:
                    assert await store.get("data/obj") == b"payload"
                    outcomes.append((time.monotonic() - opened, "answered"))
                    break
                except StoreUnavailableError as e:
                    if "hung" in str(e) and "set aside" not in str(e):
                        outcomes.append((time.monotonic() - opened, "probe hung"))
                await _tick()
            kinds = [k for _, k in outcomes]
            assert kinds == ["probe hung", "answered"]
            assert outcomes[0][0] >= 0.3  # the first probe waited its back-off
            assert outcomes[1][0] - outcomes[0][0] >= 0.6  # the second twice as long
            assert len(proxy.requests) == 3  # the hang, the hung probe, the answered probe
            assert not store.breaker.open and store.breaker.failures == 0
        finally:
            await store.close()


async def _tick() -> None:
    await asyncio.sleep(0.02)  # polling a time-based back-off: the event waited for is the clock


async def test_a_probe_answered_with_not_found_closes_the_breaker(seaweed: list[DevStore], bucket: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"], "hang", faults=1) as proxy:
        store = _store(seaweed[0], proxy, bucket, timeout=0.5, probe_after=0.2)
        try:
            with pytest.raises(StoreUnavailableError, match="hung"):
                await store.get("data/obj")
            async with asyncio.timeout(10):
                while True:
                    try:
                        await store.get("data/missing")
                    except ObjectNotFoundError:
                        break  # the probe: the store answered, if only "no such key"
                    except StoreUnavailableError as e:
                        assert "set aside until its next probe" in str(e)
                    await _tick()
            assert not store.breaker.open
            assert len(proxy.requests) == 2
        finally:
            await store.close()
