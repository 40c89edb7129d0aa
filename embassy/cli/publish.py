"""Publishing the repository config and key bundle to every store, reporting per store."""

import asyncio
import dataclasses
from collections.abc import Callable

from keys import Keyring
from replication.bundles import highest_sequence
from replication.errors import ForeignRepositoryError, IntegrityError, ReplicationError
from replication.repository import ensure_repository
from replication.stores import Store


async def publish_keys(stores: list[Store], ring: Keyring) -> dict[str, str]:
    """``{store: "ok" | "failed: ..."}`` after making each store hold the current key bundle.

    A store holding another mission's repository is one failed store among the others. Raises
    :class:`IntegrityError` (exit 4), once every store was tried, when a store's repository config
    of our own was altered: that is a tampered store, not a store that is down.
    """
    altered: list[str] = []

    async def one(store: Store) -> str:
        try:
            await ensure_repository(store, ring)
            return "ok"
        except ForeignRepositoryError as e:
            return f"failed: {e}"
        except IntegrityError as e:
            altered.append(str(e))
            return f"failed: {e}"
        except ReplicationError as e:
            return f"failed: {e}"
        finally:
            await store.close()

    results = await asyncio.gather(*(one(s) for s in stores))
    if altered:
        raise IntegrityError("; ".join(altered))
    return {s.name: r for s, r in zip(stores, results, strict=True)}


async def above_every_store(stores: list[Store], ring: Keyring) -> Keyring:
    """``ring`` numbered above every bundle of ours that any reachable store holds.

    A keyring recovered from a store that missed a rotation would otherwise give its next bundle a
    sequence the other stores already hold with other keys.
    """
    highest = await highest_sequence(stores, ring.master_key)
    return ring if ring.bundle_seq > highest else dataclasses.replace(ring, bundle_seq=highest + 1)


async def publish_new_keys(
    stores: list[Store], ring: Keyring, save: Callable[[Keyring], None]
) -> tuple[Keyring, dict[str, str]]:
    """A changed keyring: numbered above every store, saved, then published (see publish_keys)."""
    ring = await above_every_store(stores, ring)
    save(ring)
    return ring, await publish_keys(stores, ring)


async def numbered_above(stores: list[Store], ring: Keyring) -> Keyring:
    """:func:`above_every_store`, closing ``stores`` after (for a keyring published later)."""
    try:
        return await above_every_store(stores, ring)
    finally:
        await asyncio.gather(*(s.close() for s in stores))
