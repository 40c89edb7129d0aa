"""Retries: a fault-injecting proxy in front of a real SeaweedFS store, counting every request.

The Store retries transient faults (connection resets, 503s) and succeeds when the store comes
back; when it does not, StoreUnavailableError names the store after exactly the allowed tries; a
request that gets no answer (a socket timeout) is a hang, not retried; permanent faults and
not-found are answered at once, with one request.
"""

from __future__ import annotations

import time

import pytest
from conftest import fresh_bucket
from dev_stores import DevStore
from faultproxy import FaultProxy
from storekit import failed_get, s3_spec, s3_store

from replication.errors import ObjectNotFoundError, StorePermanentError, StoreUnavailableError
from replication.stores import RetryPolicy, Store

POLICY = RetryPolicy(attempts=4, max_seconds=30, initial_wait=0.01, max_wait=0.05)


def _store(dev: DevStore, proxy: FaultProxy, bucket: str, read_timeout: float = 10, **spec: str) -> Store:
    return s3_store(
        s3_spec(dev, bucket, name="lu", endpoint=proxy.endpoint, **spec),
        retry=POLICY,
        read_timeout=read_timeout,
        connect_timeout=2,
    )


@pytest.fixture
def bucket(seaweed: list[DevStore]) -> str:
    name = fresh_bucket(seaweed[0])
    seaweed[0].client().put_object(Bucket=name, Key="data/obj", Body=b"payload")
    return name


async def test_proxy_passes_everything_through(seaweed: list[DevStore], bucket: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"]) as proxy:
        store = _store(seaweed[0], proxy, bucket)
        try:
            big = bytes(range(256)) * 8192  # 2 MiB: the body crosses the proxy in pieces
            await store.put("data/big", big)
            assert await store.get("data/big") == big
            assert await store.get("data/obj") == b"payload"
            assert [o.key for o in await store.list_objects("data/")] == ["data/big", "data/obj"]
        finally:
            await store.close()
    assert [r.split(" ")[0] for r in proxy.requests] == ["PUT", "GET", "GET", "GET"]


@pytest.mark.parametrize("mode", ["reset", "503"])
async def test_transient_faults_are_retried_until_they_pass(seaweed: list[DevStore], bucket: str, mode: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"], mode, faults=2) as proxy:
        store = _store(seaweed[0], proxy, bucket)
        try:
            assert await store.get("data/obj") == b"payload"
            assert len(proxy.requests) == 3  # two faults, then the answer
            # The same for writes, whose body must be sent again in full.
            proxy.faults = len(proxy.requests) + 2
            await store.put("data/new", b"x" * 100_000)
            assert len(proxy.requests) == 6
        finally:
            await store.close()
    assert seaweed[0].client().get_object(Bucket=bucket, Key="data/new")["Body"].read() == b"x" * 100_000


@pytest.mark.parametrize("mode", ["reset", "503"])
async def test_retries_run_out(seaweed: list[DevStore], bucket: str, mode: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"], mode, faults=None) as proxy:
        store = _store(seaweed[0], proxy, bucket, read_timeout=0.5)
        error, elapsed = await failed_get(store)
    assert str(error).startswith("store lu: unavailable after 4 tries: ")
    assert error.store == "lu"
    assert len(proxy.requests) == POLICY.attempts  # botocore itself does not retry behind our back
    assert elapsed < 10


async def test_the_deadline_stops_retries(seaweed: list[DevStore], bucket: str) -> None:
    policy = RetryPolicy(attempts=50, max_seconds=1.5, initial_wait=0.2, max_wait=0.5)
    async with FaultProxy(seaweed[0].ports["s3"], "503", faults=None) as proxy:
        store = s3_store(s3_spec(seaweed[0], bucket, name="lu", endpoint=proxy.endpoint), retry=policy)
        error, elapsed = await failed_get(store)
    tries = len(proxy.requests)
    assert 2 <= tries < 20
    assert elapsed < 4
    assert str(error).startswith(f"store lu: unavailable after {tries} tries: ")


async def test_a_socket_timeout_is_a_hang_and_not_retried(seaweed: list[DevStore], bucket: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"], "hang", faults=None) as proxy:
        store = _store(seaweed[0], proxy, bucket, read_timeout=0.5)
        error, elapsed = await failed_get(store)
    assert str(error) == "store lu: hung: get data/obj: no answer within 0.5 s"
    assert len(proxy.requests) == 1
    assert elapsed < 2


async def test_permanent_errors_are_not_retried(seaweed: list[DevStore], bucket: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"]) as proxy:
        store = _store(seaweed[0], proxy, bucket, secret_key="wrong-secret")
        try:
            with pytest.raises(StorePermanentError, match="credentials"):
                await store.get("data/obj")
            assert len(proxy.requests) == 1
            with pytest.raises(StorePermanentError):
                await store.check()
            assert len(proxy.requests) == 2
        finally:
            await store.close()


async def test_not_found_is_not_retried(seaweed: list[DevStore], bucket: str) -> None:
    async with FaultProxy(seaweed[0].ports["s3"]) as proxy:
        store = _store(seaweed[0], proxy, bucket)
        try:
            with pytest.raises(ObjectNotFoundError):
                await store.get("data/missing")
            assert await store.stat("data/missing") is None
            assert len(proxy.requests) == 2
        finally:
            await store.close()


async def test_unreachable_endpoint_is_unavailable(bucket: str, seaweed: list[DevStore]) -> None:
    async with FaultProxy(seaweed[0].ports["s3"]) as proxy:
        endpoint = proxy.endpoint
    # The proxy is gone: nothing listens on its port any more.
    spec = s3_spec(seaweed[0], bucket, name="far", endpoint=endpoint)
    store = s3_store(spec, retry=POLICY)
    try:
        with pytest.raises(StoreUnavailableError, match=r"^store far: unavailable after 4 tries: .*Could not connect"):
            await store.stat("embassy-repo.json")
        # Set aside for the rest of the run: the next request fails at once, saying why.
        assert store.breaker.open
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=r"^store far: set aside for this run \(unavailable after 4"):
            await store.get("data/obj")
        assert time.monotonic() - started < 0.1
    finally:
        await store.close()
    # check() is the first contact of a round: it gives up sooner, so a dead store is set aside fast
    store = s3_store(spec, retry=POLICY)
    try:
        with pytest.raises(StoreUnavailableError, match=r"^store far: unavailable after 3 tries: .*Could not connect"):
            await store.check()
    finally:
        await store.close()
