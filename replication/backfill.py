"""Back-fill: a store that missed snapshots (it was down, hung or set aside for a round) is given
every one of them when it answers again, not only the newest's packs.

The rules, in the order a round applies them after writing its new snapshot:
1. A store missed a snapshot when another live store holds it, verified by the inventory
   (replication/inventory.py), this store names no copy of it, and no verified forget record names
   it (prune removed it here and could not, or was not let, remove it there). Names are only
   candidates: just the candidates' manifests are checked, so a store that is up to date costs no
   check (and no forget record is read).
2. Oldest first, so a store never holds a snapshot whose parent it lacks while older ones wait.
3. Per snapshot, its packs first and its manifest last: a store never shows a snapshot it does not
   hold whole. Packs and manifests are the same ciphertext in every store, so nothing is decrypted
   but the manifest (for its pack list) and nothing is read from the registries.
4. Every object copied is checked against its content id (``fetch_verified``) before it is
   written; a source whose copy does not verify is passed over for the next.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from replication.catalog import SnapshotRef
from replication.errors import IntegrityError, StoreError
from replication.fetch import fetch_verified
from replication.inventory import RegistryInventory
from replication.layout import parse_snapshot_key, snapshots_prefix
from replication.retention import RetentionMemory, retain_until
from replication.stores import Store


async def copy_verified(
    key: str, object_id: str, dest: Store, sources: Sequence[Store], retention: RetentionMemory
) -> None:
    """Copy one object to ``dest`` from the first of ``sources`` whose copy verifies (locked for
    ``dest``'s retention). Raises StoreError when none could supply it."""
    for src in sources:
        if src is dest:
            continue
        try:
            fetched = await fetch_verified(src, key, object_id)
        except (StoreError, IntegrityError):
            continue
        until = retain_until(dest.lock_days)
        await dest.put(key, fetched.data, until)
        if until is not None:
            retention.set(key, until)
        return
    raise StoreError(dest.name, f"lacks {key} and no other store could supply it")


def _named(inv: RegistryInventory, store: str) -> set[str]:
    """Snapshot ids the store's listing names (current objects), verified or not."""
    listing = inv.listings.get(store)
    if listing is None:
        return set()
    prefix = snapshots_prefix(inv.tag)
    out = set()
    for key in listing.sizes:
        parsed = parse_snapshot_key(key) if key.startswith(prefix) and listing.current(key) else None
        if parsed is not None:
            out.add(parsed[1])
    return out


async def missed(inv: RegistryInventory, store: str, live: Sequence[str]) -> list[SnapshotRef]:
    """The snapshots ``store`` missed that a live store holds verified, oldest first (rule 1, 2)."""
    others = set().union(*(_named(inv, n) for n in live if n != store)) if live else set()
    candidates = others - _named(inv, store)
    if candidates:
        candidates -= (await inv.forgotten()).snapshots.keys()
    if not candidates:
        return []
    await inv.settle(candidates)
    return [
        ref
        for ref in inv.ordered()
        if ref.id in candidates and any(h in live and h != store for h in inv.holders(ref.id))
    ]


async def backfill(
    inv: RegistryInventory,
    dest: Store,
    live: Sequence[Store],
    copy_pack: Callable[[str], Awaitable[None]],
    retention: RetentionMemory,
) -> int:
    """Give ``dest`` every snapshot it missed (rules 1-4); ``copy_pack(pack_id)`` copies a pack it
    lacks (the caller knows which it holds). Returns how many snapshots were copied."""
    names = [s.name for s in live]
    copied = 0
    for ref in await missed(inv, dest.name, names):
        manifest, _ = await inv.manifest(ref.id, [n for n in names if n != dest.name])
        for pack in manifest.packs:
            await copy_pack(pack.id)
        holders = [s for s in live if s.name in inv.holders(ref.id)]
        await copy_verified(ref.key, ref.id, dest, holders, retention)
        copied += 1
    return copied
