"""Publishing the repository config and key bundle: a taken sequence number is an error, never skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from stores.storekit import filesystem_store

from keys import Keyring
from keys.keyring import Custody, utc_now
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
