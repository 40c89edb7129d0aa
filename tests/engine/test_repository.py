"""Publishing the repository config and key bundle: a taken sequence number is an error, never skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from stores.storekit import filesystem_store

from keys import Keyring
from keys.keyring import Custody, utc_now
from replication.bundles import Recovered, recover_keyring
from replication.errors import BundleConflictError
from replication.layout import bundle_key
from replication.repository import ensure_repository


def test_a_sequence_taken_by_other_keys_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    async def go() -> None:
        store = filesystem_store(tmp_path / "lu", "lu")
        try:
            ring = Keyring.create(["population"])
            assert await ensure_repository(store, ring)
            assert not await ensure_repository(store, ring)  # the same keys again: nothing to do
            custody = ring.with_custody(Custody(2, 3, utc_now()))
            rotated = ring.rotated()
            assert custody.bundle_seq == rotated.bundle_seq
            assert await ensure_repository(store, custody)
            held = (tmp_path / "lu" / bundle_key(custody.bundle_seq)).read_bytes()
            # Re-publishing the same keys (a fresh nonce, so other bytes) is fine.
            assert not await ensure_repository(store, custody)
            with pytest.raises(BundleConflictError) as e:
                await ensure_repository(store, rotated)
            assert str(e.value) == (
                f"store lu: {bundle_key(rotated.bundle_seq)} already holds other keys under sequence "
                f"{rotated.bundle_seq}; run `embassy keys rotate` to publish under a new sequence"
            )
            assert (tmp_path / "lu" / bundle_key(custody.bundle_seq)).read_bytes() == held
        finally:
            await store.close()

    asyncio.run(go())


def test_recovery_takes_the_keys_most_stores_hold_under_the_highest_sequence(tmp_path: Path) -> None:
    """Stores that disagree on the newest sequence (written by a version before the rule): the keys
    most stores hold win, the other store is a finding; an unreachable store is named, not fatal."""
    ring = Keyring.create(["population"])
    rotated = ring.rotated()
    custody = ring.with_custody(Custody(2, 3, utc_now()))
    for name, newest in (("lu", custody), ("ee", rotated), ("ch", rotated)):
        keys = tmp_path / name / "keys"
        keys.mkdir(parents=True)
        (tmp_path / name / bundle_key(ring.bundle_seq)).write_bytes(ring.bundle())
        (tmp_path / name / bundle_key(newest.bundle_seq)).write_bytes(newest.bundle())
    (tmp_path / "gone").write_text("a file where a store's folder should be")

    async def go() -> Recovered:
        stores = [filesystem_store(tmp_path / n, n) for n in ("lu", "ee", "ch", "gone")]
        try:
            return await recover_keyring(stores, ring.master_key)
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    found = asyncio.run(go())
    assert found.ring == Keyring.from_bundle(ring.master_key, rotated.bundle())
    assert found.store == "ee"
    assert [str(f) for f in found.findings] == [
        f"store lu: {bundle_key(rotated.bundle_seq)}: holds other keys under sequence {rotated.bundle_seq} "
        "than store ee"
    ]
    assert found.problems == ["store gone: holds no key bundle (keys/bundle-*.json); is this the right store?"]
