"""Versions and Object Lock: real SeaweedFS buckets, and the in-memory backend held to the same behaviour
(the engine's fast unit tests trust it to behave like S3)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import fresh_bucket
from dev_stores import DevStore
from storekit import close_now, memory_store, s3_spec, s3_store

from replication.errors import ObjectLockedError, ObjectNotFoundError, StorePermanentError
from replication.stores import RetryPolicy, Store


@pytest.fixture(params=["memory", "s3"])
def locked(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        s = memory_store("locked", versioned=True, lock_days=1)
    else:
        seaweed: list[DevStore] = request.getfixturevalue("seaweed")
        s = s3_store(s3_spec(seaweed[1], fresh_bucket(seaweed[1], locked=True), name="locked", lock_days=1))
    yield s
    close_now(s)


def _until(hours: float) -> datetime:
    # S3 keeps retention dates to the second.
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)


async def test_locked_version_survives_deletes(locked: Store) -> None:
    await locked.check()
    assert await locked.versioned()
    until = _until(24)
    vid = await locked.put("keys/bundle-0000000001.json", b"v1", retain_until=until)
    assert isinstance(vid, str) and vid
    assert await locked.retention("keys/bundle-0000000001.json", vid) == until

    # Deleting the locked version is refused, and it stays readable.
    with pytest.raises(ObjectLockedError, match=r"^store locked: delete keys/bundle-0000000001.json refused"):
        await locked.delete("keys/bundle-0000000001.json", vid)
    assert await locked.get("keys/bundle-0000000001.json") == b"v1"

    # A plain delete adds a delete marker: the key is gone from listings, the version is not.
    await locked.delete("keys/bundle-0000000001.json")
    with pytest.raises(ObjectNotFoundError):
        await locked.get("keys/bundle-0000000001.json")
    assert await locked.stat("keys/bundle-0000000001.json") is None
    assert await locked.list_objects("keys/") == []
    assert await locked.get("keys/bundle-0000000001.json", vid) == b"v1"
    assert await locked.get_range("keys/bundle-0000000001.json", 1, 5, vid) == b"1"
    versions = await locked.list_versions("keys/")
    assert [(v.version_id == vid, v.is_delete_marker, v.is_latest) for v in versions] == [
        (True, False, False),
        (False, True, True),
    ]
    assert versions[0].size == 2 and versions[1].size == 0
    assert all(v.key == "keys/bundle-0000000001.json" for v in versions)


async def test_retention_extends_but_never_shortens(locked: Store) -> None:
    until = _until(24)
    vid = await locked.put("obj", b"data", retain_until=until)
    later = _until(48)
    await locked.set_retention("obj", later, vid)
    assert await locked.retention("obj", vid) == later
    with pytest.raises(ObjectLockedError):
        await locked.set_retention("obj", until, vid)
    assert await locked.retention("obj", vid) == later
    with pytest.raises(ObjectLockedError):
        await locked.delete("obj", vid)


async def test_overwrite_keeps_the_older_version(locked: Store) -> None:
    v1 = await locked.put("k", b"one", retain_until=_until(1))
    v2 = await locked.put("k", b"two", retain_until=_until(1))
    v3 = await locked.put("k", b"three", retain_until=_until(1))  # all within a second, usually
    assert len({v1, v2, v3}) == 3
    assert await locked.get("k") == b"three"
    assert await locked.get("k", v1) == b"one"
    assert await locked.get("k", v2) == b"two"
    info = await locked.stat("k")
    assert info is not None and info.size == 5
    versions = await locked.list_versions("k")
    assert [v.version_id for v in versions] == [v1, v2, v3]  # oldest first
    assert [v.is_latest for v in versions] == [False, False, True]
    with pytest.raises(ObjectNotFoundError):
        await locked.get("k", "no-such-version")


async def test_unlocked_object_in_a_locked_bucket(locked: Store) -> None:
    vid = await locked.put("plain", b"x")
    assert await locked.retention("plain", vid) is None
    assert await locked.retention("plain") is None
    await locked.delete("plain", vid)  # nothing holds it
    with pytest.raises(ObjectNotFoundError):
        await locked.get("plain", vid)


async def test_expired_retention_lets_the_version_go(seaweed: list[DevStore]) -> None:
    locked = s3_store(s3_spec(seaweed[1], fresh_bucket(seaweed[1], locked=True), name="locked", lock_days=1))
    until = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)  # 1-2 s from now
    vid = await locked.put("short", b"x", retain_until=until)
    with pytest.raises(ObjectLockedError):
        await locked.delete("short", vid)
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.1)
    await locked.delete("short", vid)
    assert [v for v in await locked.list_versions("short") if v.version_id == vid] == []
    await locked.close()


# -- S3 only: what the bucket can and cannot do, and who may use it ---------------------------------


async def test_lock_days_on_a_bucket_without_object_lock(seaweed: list[DevStore]) -> None:
    bucket = fresh_bucket(seaweed[0])
    store = s3_store(s3_spec(seaweed[0], bucket, name="lu", lock_days=30))
    try:
        with pytest.raises(StorePermanentError) as e:
            await store.check()
        assert str(e.value) == (
            f"store lu: bucket {bucket} has no Object Lock, but object_lock_days = 30: "
            "create the bucket with Object Lock enabled, or set object_lock_days = 0"
        )
    finally:
        await store.close()


async def test_wrong_credentials_are_permanent_and_fast(seaweed: list[DevStore]) -> None:
    bucket = fresh_bucket(seaweed[0])
    for access, secret in ((None, "wrong-secret"), ("no-such-access-key", None)):
        # The default retry policy: a retried permanent error would take seconds.
        spec = s3_spec(seaweed[0], bucket, name="lu", access_key=access, secret_key=secret)
        store = s3_store(spec, retry=RetryPolicy())
        try:
            started = time.monotonic()
            for call in (
                store.check,
                lambda s=store: s.get("k"),
                lambda s=store: s.put("k", b"x"),
                lambda s=store: s.list_objects(""),
                lambda s=store: s.delete("k"),
            ):
                with pytest.raises(StorePermanentError) as e:
                    await call()
                assert not isinstance(e.value, ObjectLockedError)
                assert str(e.value).startswith("store lu: ")
                assert "credentials" in str(e.value)
            assert time.monotonic() - started < 3, "a permanent error was retried"
        finally:
            await store.close()


async def test_nonexistent_bucket(seaweed: list[DevStore]) -> None:
    store = s3_store(s3_spec(seaweed[0], "no-such-bucket-here", name="lu"))
    try:
        with pytest.raises(StorePermanentError, match=r"^store lu: bucket no-such-bucket-here does not exist$"):
            await store.check()
    finally:
        await store.close()


def test_memory_lock_fixture_is_not_shared(tmp_path: Path) -> None:
    """Each memory store is its own: a guard for the parametrised fixture above."""
    a, b = memory_store("a", versioned=True), memory_store("b", versioned=True)
    assert a.backend is not b.backend
