"""Store locks on a real SeaweedFS bucket: who waits for whom, expiry, and a lapsed lock."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import fresh_bucket
from dev_stores import DevStore

from keys import Keyring
from replication.backup import BackupRound
from replication.errors import LockLostError, StoreBusyError
from replication.locks import LockAuth, acquire, list_locks, remove_expired
from replication.spec import RegistrySpec, S3Credentials, StoreSpec
from replication.stores import RetryPolicy, Store
from replication.stores.s3 import S3Backend

QUICK = RetryPolicy(attempts=3, max_seconds=10, initial_wait=0.01, max_wait=0.05)
NOW = timedelta(0)
AUTH = LockAuth.for_ring(Keyring.create([]))


@pytest.fixture
async def store(seaweed: list[DevStore]) -> AsyncIterator[Store]:
    dev = seaweed[2]
    spec = StoreSpec(
        "lk",
        "s3",
        "CH",
        endpoint=dev.endpoint,
        bucket=fresh_bucket(dev),
        credentials=S3Credentials(dev.access_key, dev.secret_key),
    )
    s = Store(spec, S3Backend(spec), retry=QUICK)
    yield s
    await s.close()


async def test_backups_share_a_store_and_a_prune_has_it_alone(store: Store) -> None:
    first, failed = await acquire([store], "backup", NOW, auth=AUTH)
    second, failed2 = await acquire([store], "backup", NOW, auth=AUTH)
    assert not failed and not failed2 and set(first.locks) == set(second.locks) == {"lk"}

    _, busy = await acquire([store], "prune", NOW, auth=AUTH)
    error = busy["lk"]
    assert isinstance(error, StoreBusyError)
    assert str(error).startswith(f"store lk: busy: a backup by {socket.gethostname()} (pid {os.getpid()}, since ")
    assert str(error).endswith("; waited 0 s")
    assert [lock.kind for lock in await list_locks(store)] == ["backup", "backup"], "the refused prune left its lock"

    # A prune that may wait gets the store once the backups are done.
    await first.release()
    release_later = asyncio.create_task(asyncio.sleep(1.0))
    release_later.add_done_callback(lambda _: asyncio.ensure_future(second.release()))
    started = time.monotonic()
    pruning, failed = await acquire([store], "prune", timedelta(seconds=20), auth=AUTH)
    assert not failed and set(pruning.locks) == {"lk"}
    assert time.monotonic() - started >= 1.0

    # ... and then a backup has to wait for it.
    _, busy = await acquire([store], "backup", NOW, auth=AUTH)
    assert str(busy["lk"]).startswith("store lk: busy: a prune by ")
    _, busy = await acquire([store], "prune", NOW, auth=AUTH)
    assert str(busy["lk"]).startswith("store lk: busy: a prune by ")
    pruning.ensure_held("lk")
    await pruning.release()
    assert await list_locks(store) == []


async def test_expired_locks_hold_nothing_and_are_tidied(store: Store) -> None:
    await store.put("locks/backup-20200101T000000.000000Z-0123456789abcdef", b"{}")  # a holder that crashed in 2020
    pruning, failed = await acquire([store], "prune", NOW, auth=AUTH)
    assert not failed
    assert await remove_expired(store) == 1
    assert [lock.kind for lock in await list_locks(store)] == ["prune"]
    await pruning.release()


async def test_a_lock_refreshed_in_time_holds_and_one_that_lapsed_is_lost(store: Store) -> None:
    ttl = timedelta(seconds=1.5)
    held, failed = await acquire([store], "backup", NOW, ttl=ttl, auth=AUTH)
    assert not failed
    first_key = held.locks["lk"].key
    await asyncio.sleep(2.0)  # past the first expiry: the background refresh (every 0.5 s) kept it
    held.ensure_held("lk")
    assert [lock.key for lock in await list_locks(store)] != [first_key]
    # A refresh writes the new lock object before it removes the old one: give one in progress time.
    for _ in range(40):
        if len(await list_locks(store)) == 1:
            break
        await asyncio.sleep(0.05)
    assert len(await list_locks(store)) == 1, "a refresh left the old lock object behind"

    # A holder stalled past its expiry (here: no refreshing) has lost the lock for good.
    task = held._task
    assert task is not None
    task.cancel()
    await asyncio.sleep(1.6)
    with pytest.raises(LockLostError, match=r"^store lk: lock locks/backup-.* was not refreshed in time"):
        held.ensure_held("lk")
    await held.locks["lk"].refresh()
    with pytest.raises(LockLostError, match=r"expired at .* before it could be refreshed$"):
        held.ensure_held("lk")
    held._task = None
    await held.release()


async def test_a_backup_whose_lock_lapsed_writes_no_manifest(store: Store, tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    registry.mkdir()
    (registry / "f.txt").write_text("x" * 1000)
    ring = Keyring.create(["reg"])
    backup = BackupRound(ring, [store], lambda s: True, 1, tmp_path / "cache", tmp_path / "scratch")
    await backup.prepare()
    backup.locks.locks["lk"].lost = "lock locks/backup-x expired (the test stalled it)"
    [result] = await backup.run([RegistrySpec("reg", "directory", registry)])
    assert result.stores == {"lk": "failed: store lk: lock locks/backup-x expired (the test stalled it)"}
    assert result.quorum_met is False
    assert [o.key for o in await store.list_objects("r/") if "/snapshots/" in o.key] == []
    assert await list_locks(store) == [], "the backup left its lock behind"
