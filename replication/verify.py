"""Checking every store against the signed manifests: what is missing, damaged, forged or left over.

For each registry the manifests of all stores are fetched and verified (id, Ed25519 signature,
header, decryption); a manifest any store holds intact is *trusted*. A manifest verified by an
earlier run (its MAC'd summary in the local cache) is credited by name and size in every store
unless ``read_data`` is set: then every copy a checked store holds is read again. Only each
manifest's summary (previous, packs) is kept, never its file entries. Every store is then held to
the union of trusted manifests: it must hold each of them and every pack they list, at the listed
size. A store that lost its repository config or key bundle is still checked this way. Chains are
checked across stores: a snapshot whose ``previous`` is in no store and named by no signed
tombstone shows a deleted or replaced snapshot. On versioned (Object Lock) buckets a delete marker
or a newer version over one of our objects is tampering even when the locked version beneath is
intact. ``read_data`` downloads packs, checks their hash and every blob's AEAD tag and chunk id.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from keys import BundleError, Keyring
from replication.bundles import StoreBundles, read_bundles
from replication.cache import LocalCache
from replication.catalog import SnapshotRef
from replication.crypto import object_id, open_chunks
from replication.errors import IntegrityError, ObjectNotFoundError, ReplicationError, StoreError
from replication.fetch import Fetched, fetch_verified
from replication.forget import load_forgotten
from replication.fsutil import atomic_write
from replication.inventory import Finding, FindingKind, Inventory, Listing, RegistryInventory, list_store
from replication.layout import REPO_CONFIG, bundle_key, id_in_key, pack_key, parse_snapshot_key, registry_prefix
from replication.pack import blobs, pack_key_id, read_pack_header
from replication.prefetch import Prefetch
from replication.progress import NoProgress, Progress
from replication.repository import own_config
from replication.stores import Store
from replication.summary import ManifestSummary

T = TypeVar("T")


@dataclass
class StoreReport:
    """What verify found in one store: typed findings (repair takes them as they are), and the
    lists of keys the JSON output has always carried, derived from them."""

    name: str
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    read_packs: int = 0
    read_bytes: int = 0

    def add(self, kind: FindingKind, key: str, detail: str = "") -> None:
        self.findings.append(Finding(self.name, key, kind, detail))

    def _of(self, kind: FindingKind) -> list[str]:
        out = []
        for f in self.findings:
            if f.kind == kind:
                if kind == "chain":
                    out.append(f.detail)
                elif kind == "tampered":
                    out.append(f"{f.key}: {f.detail}")
                else:
                    out.append(f.key)
        return out

    @property
    def missing(self) -> list[str]:
        return self._of("missing")

    @property
    def damaged(self) -> list[str]:
        return self._of("damaged")

    @property
    def tampered(self) -> list[str]:
        return self._of("tampered")

    @property
    def chain(self) -> list[str]:
        return self._of("chain")

    @property
    def forged(self) -> list[str]:  # signed objects whose signature does not verify
        return self._of("forged")

    @property
    def unreferenced(self) -> list[str]:
        return self._of("unreferenced")

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.kind == "unreferenced" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": self.ok,
            "checked": self.checked,
            "missing": self.missing,
            "damaged": self.damaged,
            "tampered": self.tampered,
            "chain": self.chain,
            "forged": self.forged,
            "unreferenced": self.unreferenced,
            "read_packs": self.read_packs,
            "read_bytes": self.read_bytes,
            "findings": [{"key": f.key, "kind": f.kind, "detail": f.detail} for f in self.findings],
        }
        if self.error:
            doc["error"] = self.error
        return doc


@dataclass
class RegistryView:
    """What verify learned about one registry: trusted manifests and where good copies live."""

    registry: str
    tag: str
    trusted: dict[str, tuple[SnapshotRef, ManifestSummary]] = field(default_factory=dict)
    holders: dict[str, list[str]] = field(default_factory=dict)  # snapshot id -> stores with a good copy
    untrusted: dict[str, str] = field(default_factory=dict)  # snapshot id -> why no copy verified
    forgotten: set[str] = field(default_factory=set)


@dataclass
class VerifyReport:
    stores: dict[str, StoreReport]
    registries: dict[str, RegistryView]
    manifests_seen: int = 0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.stores.values())

    @property
    def forged(self) -> bool:
        return any(r.forged for r in self.stores.values())

    @property
    def nothing_trusted(self) -> bool:
        return self.manifests_seen > 0 and not any(v.trusted for v in self.registries.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stores": {name: r.to_json() for name, r in self.stores.items()},
            "registries": {
                name: {"trusted_snapshots": len(v.trusted), "untrusted": v.untrusted}
                for name, v in self.registries.items()
            },
        }


class HeadStart:
    """What verify can do before the keyring is open, while its key derivation (~0.5 s on one core)
    runs: list the checked stores and, for a full read, download and hash-check their first packs.
    Neither needs a key: a pack is named by the BLAKE3 of its bytes. The verifier takes the listings
    and packs as if it had fetched them itself; a pack it does not need is dropped at the end."""

    def __init__(self, stores: list[Store], read_all: bool, packs_per_store: int = 3) -> None:
        self.stores = stores
        self.read_all = read_all
        self.packs_per_store = packs_per_store
        self.listings: dict[str, Listing | StoreError] = {}
        self._packs: dict[str, Prefetch[Fetched]] = {s.name: Prefetch() for s in stores}

    async def run(self) -> None:
        await asyncio.gather(*(self._store(s) for s in self.stores))

    async def _store(self, store: Store) -> None:
        try:
            listing = await list_store(store)
        except StoreError as e:
            self.listings[store.name] = e
            return
        self.listings[store.name] = listing
        if not self.read_all:
            return  # a subset is chosen at random later: nothing to guess
        versioned = listing.versions is not None
        for key in sorted(k for k in listing.sizes if k.startswith("r/") and "/packs/" in k)[: self.packs_per_store]:
            pack_id = id_in_key(key)
            if pack_id is not None:
                self._packs[store.name].start(key, partial(fetch_verified, store, key, pack_id, versioned=versioned))

    def prefetched(self, store: str) -> set[str]:
        early = self._packs.get(store)
        return early.started() if early else set()

    async def take(self, store: str, key: str) -> Fetched | None:
        """The pack as fetch_verified gave it (its errors raised the same way), or None if not fetched."""
        early = self._packs.get(store)
        return await early.take(key) if early else None

    def drop(self) -> None:
        for early in self._packs.values():
            early.drop()


class Verifier:
    def __init__(
        self,
        ring: Keyring,
        stores: list[Store],
        registries: list[str],
        cache_dir: Path | None = None,
        read_data: float = 0.0,
        progress: Progress | None = None,
        parallel: int = 6,
        cpu_workers: int | None = None,
        targets: list[str] | None = None,
        head_start: HeadStart | None = None,
        recheck: bool = False,
    ) -> None:
        """``read_data``: the share of packs (0..1) to download and check in every checked store.
        ``targets``: the stores to check (default all); the others are only read for the manifests a
        target lacks or holds damaged, to know what it should hold. ``recheck``: also read again the
        packs whose last read failed (repair does, so that damage found earlier is healed)."""
        self.ring = ring
        self.stores = stores
        self.targets = set(targets) if targets is not None else {s.name for s in stores}
        self.registries = [r for r in registries if ring.has_registry(r)]
        self.cache_dir = cache_dir
        self.read_data = read_data
        self.progress = progress or NoProgress()
        self.parallel = parallel
        self._cpu = ThreadPoolExecutor(cpu_workers or max(2, os.cpu_count() or 2), thread_name_prefix="verify")
        self._read_slots: dict[str, asyncio.Semaphore] = {}
        self.head = head_start
        self.recheck = recheck
        # Every copy a checked store holds is read (but those of manifests an earlier run verified,
        # unless packs are read too); the others are credited once a copy verified.
        self.inventory = Inventory(
            ring, stores, LocalCache(cache_dir), read=self.targets, read_indexed=read_data > 0, parallel=parallel
        )

    async def _cpu_run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._cpu, fn, *args)

    # -- listing -------------------------------------------------------------------------------------

    async def _list(self, store: Store) -> Listing:
        """The whole store, listed once: by the head start, or now; the inventory serves its parts."""
        early = self.head.listings.get(store.name) if self.head else None
        if early is None:
            try:
                early = await list_store(store)
            except StoreError as e:
                early = e
        self.inventory.prime(store.name, early)
        if isinstance(early, StoreError):
            raise early
        return early

    async def run(self) -> VerifyReport:
        try:
            return await self._run()
        finally:
            if self.head is not None:
                self.head.drop()
            self._cpu.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> VerifyReport:
        reports = {s.name: StoreReport(s.name) for s in self.stores}
        listings: dict[str, Listing] = {}

        async def list_one(store: Store) -> None:
            try:
                listings[store.name] = await self._list(store)
            except StoreError as e:
                reports[store.name].error = str(e)

        await asyncio.gather(*(list_one(s) for s in self.stores))
        live = [s for s in self.stores if s.name in listings]
        held = await asyncio.gather(
            *(self._check_repository(s, listings[s.name], reports[s.name]) for s in live if s.name in self.targets)
        )
        # The current bundle is the highest of ours any store holds (this keyring may be behind).
        top = max((h.highest or 0 for h in held if h is not None), default=0)
        for h in held:
            if h is not None and top > self.ring.bundle_seq and top not in h.rings:
                reports[h.store].add("missing", bundle_key(top))
        # Registries side by side: reading one's packs overlaps checking another's.
        done = await asyncio.gather(*(self._registry(r, live, listings, reports) for r in self.registries))
        views = {r: view for r, (view, _) in zip(self.registries, done, strict=True)}
        seen = sum(count for _, count in done)
        return VerifyReport(reports, views, seen)

    async def _check_repository(self, store: Store, listing: Listing, report: StoreReport) -> StoreBundles | None:
        """The repository config and the current key bundle: present, and made with our master key."""

        async def check(key: str, opens: Callable[[bytes], object]) -> None:
            report.checked += 1
            if key not in listing.sizes:
                report.add("missing", key)
                return
            try:
                opens(await store.get(key))
            except ObjectNotFoundError:
                report.add("missing", key)  # hidden by a delete marker: _versions reports the tampering
            except (IntegrityError, BundleError) as e:
                report.add("damaged", key, str(e))
            except StoreError as e:
                report.error = str(e)

        await check(REPO_CONFIG, lambda d: own_config(d, self.ring, store.name))
        await check(bundle_key(self.ring.bundle_seq), lambda d: Keyring.from_bundle(self.ring.master_key, d))
        if report.error is not None:
            return None
        # Every other bundle too: one whose sealed header disagrees with its name is damage.
        held = await read_bundles(store, self.ring.master_key)
        for finding in held.findings:
            if finding.key not in report.damaged:
                report.add("damaged", finding.key, finding.detail)
        return held

    # -- one registry --------------------------------------------------------------------------------

    async def _registry(
        self, registry: str, live: list[Store], listings: dict[str, Listing], reports: dict[str, StoreReport]
    ) -> tuple[RegistryView, int]:
        inv = await self.inventory.registry(registry)
        view = RegistryView(registry, inv.tag)
        prefix = registry_prefix(inv.tag)
        # Each copy in a checked store was read and verified, or is a finding against that store.
        for store in live:
            if store.name in self.targets:
                reports[store.name].checked += sum(
                    1 for k in inv.listings[store.name].sizes if k.startswith(prefix + "snapshots/")
                )
                reports[store.name].findings += inv.findings_of(store.name)
        refs = inv.refs
        for sid, ref in refs.items():
            try:
                summary = await inv.summary(sid, sorted(self.targets))
            except (IntegrityError, StoreError) as e:
                view.untrusted[sid] = str(e)
                continue
            view.trusted[sid] = (ref, summary)
            view.holders[sid] = inv.holders(sid)
        for f in inv.findings:
            parsed = parse_snapshot_key(f.key)
            if parsed is not None and parsed[1] not in refs:
                view.untrusted.setdefault(parsed[1], f.line())
        listed = inv.listed_ids()
        copies = {sid: [s for s in live if sid in inv.held.get(s.name, {})] for sid in refs}

        await self._tombstones(view, live, inv)
        self._chain(view, listed, reports, live, copies)

        # Every store is held to every trusted manifest and all of its packs.
        # Snapshots a signed forget record names are on their way out: no store must hold them.
        current = {sid: v for sid, v in view.trusted.items() if sid not in view.forgotten}
        needed: dict[str, int] = {}
        for _, manifest in current.values():
            for p in manifest.packs:
                needed[p.id] = p.size
        checked = [s for s in live if s.name in self.targets]
        for store in checked:
            listing = listings[store.name]
            report = reports[store.name]
            for ref, _ in current.values():
                if ref.key not in listing.sizes:
                    report.add("missing", ref.key)
            for pid, size in sorted(needed.items()):
                key = pack_key(view.tag, pid)
                report.checked += 1
                have = listing.sizes.get(key)
                if have is None:
                    report.add("missing", key)
                elif size not in have:
                    report.add("damaged", key, "its size differs from the one its manifest lists")
            for key in sorted(listing.sizes):
                if key.startswith(prefix + "packs/") and key.rsplit("/", 1)[-1] not in needed:
                    report.add("unreferenced", key)
            if listing.versions is not None:
                await self._versions(store, listing, view, needed, report)
        if self.read_data > 0 or self.recheck:
            await asyncio.gather(
                *(self._read_data(s, view, needed, listings[s.name], reports[s.name]) for s in checked)
            )
        return view, len(listed)

    async def _tombstones(self, view: RegistryView, live: list[Store], inv: RegistryInventory) -> None:
        """Snapshots that signed forget records say prune removed: their absence is no chain break."""
        forgotten = await load_forgotten(self.ring, view.registry, live, inv.current_keys())
        view.forgotten.update(forgotten.snapshots)

    def _chain(
        self,
        view: RegistryView,
        refs: Collection[str],
        reports: dict[str, StoreReport],
        live: list[Store],
        copies: dict[str, list[Store]],
    ) -> None:
        """Each trusted snapshot's ``previous`` must exist (or be a signed tombstone's), in every
        store that holds the snapshot: a store missing a link is reported until repair fills it."""
        held = {s.name: {sid for sid, stores in copies.items() if s in stores} for s in live}
        for sid, (ref, manifest) in sorted(view.trusted.items(), key=lambda kv: kv[1][0].key_time):
            prev = manifest.previous
            if prev is None or prev in view.forgotten:
                continue
            if prev not in refs:
                message = (
                    f"snapshot {sid[:12]} ({manifest.time}) follows {prev[:12]}, which is in no store "
                    "and was not pruned: deleted or replaced"
                )
                for store in live:
                    reports[store.name].add("chain", "", message)
                continue
            if prev in view.trusted and view.trusted[prev][0].key_time >= ref.key_time:
                for store in live:
                    reports[store.name].add("chain", "", f"snapshot {sid[:12]} follows a snapshot that is not older")
            for store in live:
                if sid in held[store.name] and prev not in held[store.name]:
                    reports[store.name].add(
                        "chain",
                        "",
                        f"snapshot {sid[:12]} follows {prev[:12]}, which this store lacks (deleted or never received)",
                    )

    async def _versions(
        self, store: Store, listing: Listing, view: RegistryView, needed: dict[str, int], report: StoreReport
    ) -> None:
        """Delete markers and newer versions over content objects count as tampering."""
        assert listing.versions is not None
        ours = {pack_key(view.tag, p): p for p in needed}
        ours.update({ref.key: sid for sid, (ref, _) in view.trusted.items()})
        for key, versions in listing.versions.items():
            expected = ours.get(key)
            if expected is None:
                continue
            latest = next((v for v in versions if v.is_latest), versions[-1])  # oldest first otherwise
            if latest.is_delete_marker:
                intact = any(not v.is_delete_marker for v in versions)
                report.add(
                    "tampered",
                    key,
                    "hidden by a delete marker" + ("; an earlier version is still there" if intact else ""),
                )
                continue
            if len([v for v in versions if not v.is_delete_marker]) > 1:
                try:
                    current = await store.get(key)
                except StoreError as e:
                    report.add("tampered", key, f"several versions, current unreadable: {e}")
                    continue
                if object_id(current) != expected:
                    report.add("tampered", key, "a newer version was written over it")

    # -- reading data --------------------------------------------------------------------------------

    def _choose(self, store: str, packs: list[str]) -> list[str]:
        """All packs, or a share of them: the least recently read first, so repeated runs cover all."""
        if self.read_data >= 1:
            return packs
        count = min(len(packs), math.ceil(len(packs) * self.read_data))
        state = self._read_state(store)
        shuffled = list(packs)
        random.shuffle(shuffled)
        shuffled.sort(key=lambda p: state.get(p, ""))
        return shuffled[:count]

    def _read_state(self, store: str) -> dict[str, str]:
        path = self.inventory.cache.verify_reads(store)
        if path is None or not path.exists():
            return {}
        try:
            return dict(json.loads(path.read_text()))
        except (ValueError, TypeError):
            return {}

    async def _read_data(
        self, store: Store, view: RegistryView, needed: dict[str, int], listing: Listing, report: StoreReport
    ) -> None:
        present = [p for p in sorted(needed) if needed[p] in listing.sizes.get(pack_key(view.tag, p), set())]
        chosen = self._choose(store.name, present)
        if self.recheck:  # packs whose last read failed are read again, so their findings are fresh
            suspects = self.inventory.cache.suspect_packs(store.name)
            chosen += [p for p in present if pack_key(view.tag, p) in suspects and p not in chosen]
        if self.head is not None:  # packs fetched during the key derivation go first
            early = self.head.prefetched(store.name)
            chosen.sort(key=lambda p: pack_key(view.tag, p) not in early)
        id_key = self.ring.id_key(view.registry)
        # One bound per store over all registries (they are checked side by side): flat memory.
        limit = self._read_slots.setdefault(store.name, asyncio.Semaphore(self.parallel))
        done: list[str] = []

        async def one(pack_id: str) -> None:
            key = pack_key(view.tag, pack_id)
            async with limit:
                try:
                    early = await self.head.take(store.name, key) if self.head else None
                    fetched = early or await fetch_verified(store, key, pack_id, versioned=listing.versions is not None)
                except ObjectNotFoundError:
                    report.add("missing", key)
                    return
                except IntegrityError as e:
                    report.add("damaged", key, str(e))
                    return
                except StoreError as e:
                    report.error = str(e)
                    return
                if fetched.shadowed:
                    report.add("tampered", key, f"{fetched.shadowed}; the locked version underneath is intact")
                report.read_packs += 1
                report.read_bytes += len(fetched.data)
                self.progress.transferred(store.name, len(fetched.data))
                try:
                    await self._cpu_run(self._check_pack, fetched.data, view.registry, id_key, key)
                except IntegrityError as e:
                    report.add("damaged", key, str(e))
                    return
                done.append(pack_id)

        await asyncio.gather(*(one(p) for p in chosen))
        failed = {f.key for f in report.findings if f.kind == "damaged" and "/packs/" in f.key}
        self.inventory.cache.update_suspect_packs(store.name, failed, {pack_key(view.tag, p) for p in done})
        path = self.inventory.cache.verify_reads(store.name)
        if path is not None and done:
            state = self._read_state(store.name)
            now = datetime.now(UTC).isoformat()
            state.update(dict.fromkeys(done, now))
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(state).encode(), mode=0o600)

    def _check_pack(self, data: bytes, registry: str, id_key: bytes, what: str) -> None:
        key = self.ring.data_key(registry, pack_key_id(data, what))
        view = memoryview(data)
        for members in blobs(read_pack_header(data, key, what)):
            e = members[0]
            wanted = [(m.chunk_id, m.start, m.raw_len) for m in members]
            open_chunks(key, id_key, view[e.offset : e.offset + e.length], wanted, f"{what}@{e.offset}")


__all__ = ["Finding", "HeadStart", "RegistryView", "ReplicationError", "StoreReport", "Verifier", "VerifyReport"]
