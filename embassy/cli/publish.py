"""Publishing the repository config and key bundle to every store, reporting per store."""

import asyncio

from keys import Keyring
from replication.errors import ReplicationError
from replication.repository import ensure_repository
from replication.stores import Store


async def publish_keys(stores: list[Store], ring: Keyring) -> dict[str, str]:
    """``{store: "ok" | "failed: ..."}`` after making each store hold the current key bundle."""

    async def one(store: Store) -> str:
        try:
            await ensure_repository(store, ring)
            return "ok"
        except ReplicationError as e:
            return f"failed: {e}"
        finally:
            await store.close()

    results = await asyncio.gather(*(one(s) for s in stores))
    return {s.name: r for s, r in zip(stores, results, strict=True)}
