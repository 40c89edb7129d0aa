"""Locks a hostile store plants, on real SeaweedFS buckets: reported, ignored, never a hold.

A store abroad can write any object into its own bucket, lock objects included. Only locks the
mission wrote (their body MACed under a key derived from the master key, their name and body in
agreement, their expiry within the lock lifetime) hold a backup or a prune back; every other one
is a warning naming the store and the object, and holds nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import fresh_bucket
from dev_stores import DevStore

from keys import Keyring
from replication.backup import BackupRound
from replication.locks import LockAuth, acquire, list_locks, lock_key
from replication.prune import Pruner
from replication.spec import KeepPolicy, RegistrySpec, S3Credentials, StoreSpec
from replication.stores import RetryPolicy, Store
from replication.stores.s3 import S3Backend

QUICK = RetryPolicy(attempts=3, max_seconds=10, initial_wait=0.01, max_wait=0.05)
NOW = timedelta(0)
FAR_FUTURE = "20991231T235959.000000Z"
# What "a few seconds" allows on a loaded 2-core machine; the unauthenticated code waited 600 s.
FEW_SECONDS = 15.0


def _store(name: str, dev: DevStore) -> Store:
    spec = StoreSpec(
        name,
        "s3",
        "CH",
        endpoint=dev.endpoint,
        bucket=fresh_bucket(dev),
        credentials=S3Credentials(dev.access_key, dev.secret_key),
    )
    return Store(spec, S3Backend(spec), retry=QUICK)


@pytest.fixture
async def stores(seaweed: list[DevStore]) -> AsyncIterator[list[Store]]:
    pair = [_store("lu", seaweed[0]), _store("ee", seaweed[1])]
    yield pair
    for s in pair:
        await s.close()


def _registry(tmp_path: Path) -> RegistrySpec:
    folder = tmp_path / "reg"
    folder.mkdir()
    (folder / "f.txt").write_text("registry content " * 100)
    return RegistrySpec("reg", "directory", folder)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "replication.locks"]


async def test_a_forged_prune_lock_far_ahead_does_not_hold_a_backup(
    stores: list[Store], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forged = f"locks/prune-{FAR_FUTURE}-0123456789abcdef"
    await stores[1].put(forged, b'{"kind": "prune", "host": "ops", "pid": 1, "started": "2026-12-01T00:00:00Z"}')
    ring = Keyring.create(["reg"])
    backup = BackupRound(ring, stores, lambda s: True, 2, tmp_path / "cache", tmp_path / "scratch")
    started = time.monotonic()
    [result] = await asyncio.wait_for(backup.run([_registry(tmp_path)]), timeout=60)  # the default wait is 600 s
    assert time.monotonic() - started < FEW_SECONDS
    assert result.stores == {"lu": "ok", "ee": "ok"} and result.quorum_met
    assert any(f"store ee: ignored lock {forged}: expires " in w for w in _warnings(caplog)), _warnings(caplog)


async def test_a_forged_backup_lock_far_ahead_does_not_hold_a_prune(
    stores: list[Store], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ring = Keyring.create(["reg"])
    backup = BackupRound(ring, stores, lambda s: True, 2, tmp_path / "cache", tmp_path / "scratch")
    [result] = await backup.run([_registry(tmp_path)])
    assert result.quorum_met
    forged = f"locks/backup-{FAR_FUTURE}-fedcba9876543210"
    await stores[0].put(forged, b"{}")
    pruner = Pruner(ring, stores, ["reg"], KeepPolicy(), tmp_path / "cache")
    started = time.monotonic()
    outcome = await asyncio.wait_for(pruner.run(), timeout=60)
    assert time.monotonic() - started < FEW_SECONDS
    assert {name: report.error for name, report in outcome.stores.items()} == {"lu": None, "ee": None}
    assert any(f"store lu: ignored lock {forged}: expires " in w for w in _warnings(caplog)), _warnings(caplog)


async def test_only_the_missions_own_locks_exclude(stores: list[Store], caplog: pytest.LogCaptureFixture) -> None:
    """Each way a lock can be false is named; a real one held meanwhile still excludes."""
    ring = Keyring.create([])
    auth = LockAuth.for_ring(ring)
    lu, ee = stores
    soon = datetime.now(UTC) + timedelta(minutes=5)

    # A lock of this mission in lu, copied by ee's operator into ee under its own name ...
    real, failed = await acquire([lu], "backup", NOW, auth=auth)
    assert not failed
    [mine] = await list_locks(lu)
    body = await lu.get(mine.key)
    copied = lock_key("prune", mine.expires, mine.token)
    await ee.put(copied, body)  # ... and promoted to an exclusive lock by its name
    moved = mine.key
    await ee.put(moved, body)  # ... and the same name in another store
    unsigned = lock_key("prune", soon, "00000000000000aa")
    await ee.put(unsigned, json.dumps({"kind": "prune", "host": "h", "pid": 1, "started": "x"}).encode())
    foreign_ring = Keyring.create([])
    foreign, _ = await acquire([ee], "prune", NOW, auth=LockAuth.for_ring(foreign_ring))
    [foreign_key] = [k.key for k in await list_locks(ee) if k.key not in (copied, moved, unsigned)]
    junk = lock_key("prune", soon, "00000000000000bb")
    await ee.put(junk, b"\xff" * 10_000)

    caplog.clear()
    held, failed = await acquire([ee], "prune", NOW, auth=auth)
    assert not failed, failed
    ignored = {(i.store, i.key): i.reason for i in held.ignored}
    assert ignored[("ee", copied)] == "its name says prune but its signed body says backup"
    assert ignored[("ee", moved)] == "it was written for store lu, not ee"
    assert ignored[("ee", unsigned)] == "not written by this mission (no valid MAC)"
    assert ignored[("ee", foreign_key)] == f"it belongs to another mission (master key {foreign_ring.master_key_id})"
    assert ignored[("ee", junk)] == "its body is 10000 bytes, more than a lock's 4096"
    assert len(_warnings(caplog)) == 5
    assert f"store ee: ignored lock {unsigned}: not written by this mission (no valid MAC)" in _warnings(caplog)
    await held.release()
    await foreign.release()

    # The real backup lock in lu still keeps a prune out of lu.
    _, busy = await acquire([lu], "prune", NOW, auth=auth)
    assert str(busy["lu"]).startswith("store lu: busy: a backup by ")
    await real.release()
