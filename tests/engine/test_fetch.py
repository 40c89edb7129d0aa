"""Content-addressed reads under a hostile versioned store: an oversized version laid over an
object is damage, never read whole, and the locked version beneath it is found."""

from __future__ import annotations

import asyncio
import os

import pytest
from stores.storekit import memory_store

from replication.crypto import object_id
from replication.errors import ObjectTooLargeError
from replication.fetch import fetch_verified
from replication.layout import MAX_MANIFEST_BYTES


def test_an_oversized_newer_version_is_damage_and_the_intact_one_beneath_is_used() -> None:
    async def go() -> None:
        store = memory_store("de", versioned=True)
        data = os.urandom(5000)
        sid = object_id(data)
        key = f"r/0123456789abcdef01234567/snapshots/20261127T082146.123456Z_{sid}"
        try:
            await store.put(key, data)
            await store.put(key, b"\0" * (MAX_MANIFEST_BYTES + 1))
            fetched = await fetch_verified(store, key, sid)
            assert fetched.data == data
            assert fetched.shadowed == "larger than the format allows for a manifest (64 MiB)"
            assert store.bytes_down == len(data)  # the oversized version was never read
            # With no intact version beneath, the oversized one is reported as such.
            other = memory_store("ch", versioned=True)
            await other.put(key, b"\0" * (MAX_MANIFEST_BYTES + 1))
            with pytest.raises(ObjectTooLargeError) as e:
                await fetch_verified(other, key, sid)
            assert str(e.value) == f"store ch: {key}: larger than the format allows for a manifest (64 MiB)"
            await other.close()
        finally:
            await store.close()

    asyncio.run(go())


def test_a_pack_longer_than_its_manifest_says_is_damage() -> None:
    async def go() -> None:
        store = memory_store("de")
        data = os.urandom(3000)
        pid = object_id(data)
        key = f"r/0123456789abcdef01234567/packs/{pid[:2]}/{pid}"
        try:
            await store.put(key, data)
            assert (await fetch_verified(store, key, pid, max_bytes=3000)).data == data
            with pytest.raises(ObjectTooLargeError, match=r"larger than the format allows for a pack \(2999 bytes\)"):
                await fetch_verified(store, key, pid, max_bytes=2999)
        finally:
            await store.close()

    asyncio.run(go())
