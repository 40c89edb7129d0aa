"""Publishing the repository config and key bundle to every store, reporting per store."""

import asyncio

from keys import Keyring
from replication.errors import IntegrityError, ReplicationError
from replication.repository import ensure_repository
from replication.stores import Store


async def publish_keys(stores: list[Store], ring: Keyring) -> dict[str, str]:
    """``{store: "ok" | "failed: ..."}`` after making each store hold the current key bundle.

    Raises :class:`IntegrityError` (exit 4), once every store was tried, when a store holds another
    master key's repository: that is a wrong store or a tampered one, not a store that is down.
    """
    foreign: list[str] = []

    async def one(store: Store) -> str:
        try:
            await ensure_repository(store, ring)
            return "ok"
        except IntegrityError as e:
            foreign.append(str(e))
            return f"failed: {e}"
        except ReplicationError as e:
            return f"failed: {e}"
        finally:
            await store.close()

    results = await asyncio.gather(*(one(s) for s in stores))
    if foreign:
        raise IntegrityError("; ".join(foreign))
    return {s.name: r for s, r in zip(stores, results, strict=True)}
