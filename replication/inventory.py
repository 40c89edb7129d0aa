"""One run's inventory of the stores: what each holds, from verified objects only.

Every operation (backup's parent choice and back-fill, restore and drill, verify, repair, prune,
status, ``snapshots``) decides from this object, never from names alone. Each store is listed once
per prefix per run (every version and delete marker on a versioned bucket, so a manifest hidden by
a marker still counts: readers look beneath it). A name under ``r/<tag>/snapshots/`` counts as a
snapshot of that store only once the object's content hash matches the id in its name, its
Ed25519 signature verifies with the mission's key, and its signed header names this registry and
the time in its name. The bytes are checked once per snapshot id and run: another store listing
the same id is credited by name and size (the id is the hash of the bytes), unless the run reads
that store's copies itself (verify's checked stores). The local cache may supply bytes verified
before; they are checked again here. Or it supplies the MAC'd summary of a manifest verified before
(replication/summary.py): the id is then credited by name and size from the listing, as a second
store's copy is, without the bytes being read again (``read_indexed``: verify with --read-data
still reads every copy its checked stores hold).

An object that does not verify is a :class:`Finding` against the store that lists it: verify
names it, prune sets that store aside for the registry, restore and drill warn and take the
newest snapshot that verifies. A snapshot id is resolved in each store by that store's own name
for it, never by whichever store was listed first.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from nacl.signing import VerifyKey

from keys import Keyring
from replication.cache import LocalCache
from replication.catalog import Catalog, SnapshotRef
from replication.crypto import object_id
from replication.errors import IntegrityError, ObjectNotFoundError, SignatureError, StoreError
from replication.fetch import fetch_verified
from replication.forget import ForgottenSnapshots, forgotten_prefix, load_forgotten
from replication.layout import (
    id_in_key,
    packs_prefix,
    parse_snapshot_key,
    snapshots_prefix,
    time_for_key,
)
from replication.manifest import Manifest, SnapshotHeader, open_snapshot
from replication.stores import ObjectInfo, ObjectVersion, Store
from replication.summary import ManifestSummary, SummaryIndex

T = TypeVar("T")
FindingKind = Literal["missing", "damaged", "forged", "tampered", "chain", "unreferenced"]


@dataclass(frozen=True, slots=True)
class Finding:
    """Something wrong with what one store holds: ``key`` is the object ("" for a chain finding)."""

    store: str
    key: str
    kind: FindingKind
    detail: str = ""

    def line(self) -> str:
        where = f"store {self.store}: {self.key}" if self.key else f"store {self.store}"
        return f"{where}: {self.detail}" if self.detail else where


@dataclass(frozen=True, slots=True)
class Version:
    id: str | None  # None on an unversioned store
    size: int
    last_modified: datetime | None
    delete_marker: bool = False


@dataclass
class Stored:
    """One key in one store, with every version the store keeps of it."""

    key: str
    versions: list[Version] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(v.size for v in self.versions if not v.delete_marker)

    @property
    def present(self) -> bool:
        return any(not v.delete_marker for v in self.versions)

    def written_before(self, cutoff: datetime) -> bool:
        """Every version older than ``cutoff`` (unknown times count as new)."""
        return all(v.last_modified is not None and v.last_modified < cutoff for v in self.versions)


@dataclass
class Listing:
    """What one store listed under one prefix. ``sizes``: each key's sizes over its versions but
    delete markers (an object hidden by a marker, or under a forgery, still counts as held);
    ``versions``: every version and marker, on versioned stores only."""

    store: str
    sizes: dict[str, set[int]]
    versions: dict[str, list[ObjectVersion]] | None
    infos: dict[str, ObjectInfo] = field(default_factory=dict)  # unversioned stores

    @property
    def versioned(self) -> bool:
        return self.versions is not None

    @classmethod
    def of_objects(cls, store: str, infos: Iterable[ObjectInfo]) -> Listing:
        by_key = {o.key: o for o in infos}
        return cls(store, {k: {o.size} for k, o in by_key.items()}, None, by_key)

    @classmethod
    def of_versions(cls, store: str, versions: Iterable[ObjectVersion]) -> Listing:
        grouped: dict[str, list[ObjectVersion]] = {}
        sizes: dict[str, set[int]] = {}
        for v in versions:
            grouped.setdefault(v.key, []).append(v)
            if not v.is_delete_marker:
                sizes.setdefault(v.key, set()).add(v.size)
        return cls(store, sizes, grouped)

    def merged(self, other: Listing) -> Listing:
        """This listing and another of the same store under a disjoint prefix, as one."""
        if self.versions is not None and other.versions is not None:
            return Listing(self.store, self.sizes | other.sizes, self.versions | other.versions)
        return Listing(self.store, self.sizes | other.sizes, None, self.infos | other.infos)

    def under(self, prefix: str) -> Listing:
        if self.versions is not None:
            return Listing.of_versions(
                self.store, (v for k, vs in self.versions.items() if k.startswith(prefix) for v in vs)
            )
        return Listing.of_objects(self.store, (o for k, o in self.infos.items() if k.startswith(prefix)))

    def current(self, key: str) -> bool:
        """Shown by a plain read: present, and (on a versioned store) not hidden by a delete marker."""
        if self.versions is None:
            return key in self.infos
        versions = self.versions.get(key, [])
        latest = next((v for v in versions if v.is_latest), versions[-1] if versions else None)
        return latest is not None and not latest.is_delete_marker

    def stored(self, key: str) -> Stored:
        if self.versions is not None:
            return Stored(
                key,
                [
                    Version(v.version_id, v.size, v.last_modified, v.is_delete_marker)
                    for v in self.versions.get(key, [])
                ],
            )
        info = self.infos.get(key)
        return Stored(key, [Version(None, info.size, info.last_modified)] if info else [])


async def list_store(store: Store, prefix: str = "") -> Listing:
    """One listing of ``prefix`` in ``store``: every version and delete marker if it keeps versions."""
    if await store.versioned():
        return Listing.of_versions(store.name, await store.list_versions(prefix))
    return Listing.of_objects(store.name, await store.list_objects(prefix))


@dataclass
class RegistryInventory:
    """What the stores hold of one registry, verified. Built by :meth:`Inventory.registry`."""

    registry: str
    tag: str
    order: list[str]  # store names, as configured
    listings: dict[str, Listing]
    unlisted: dict[str, StoreError]
    held: dict[str, dict[str, SnapshotRef]]  # store -> snapshot id -> its verified name there
    findings: list[Finding]
    _inventory: Inventory
    # Named like snapshots, not yet checked: id -> each store's copy. Checked lazily (``latest``
    # verifies newest first until one verifies) or all at once (``settle_all``).
    _unchecked: dict[str, list[_Copy]] = field(default_factory=dict)
    packs_listed: bool = False  # the packs prefix is in every listing (listed with the others)
    _packs: asyncio.Future[None] | None = None  # its listing when asked for after the others
    _forgotten: asyncio.Future[ForgottenSnapshots] | None = None

    async def forgotten(self) -> ForgottenSnapshots:
        """What the registry's verified forget records say, read once per run from the stores that
        were listed (their listings name the records). Only when asked: the records grow with the
        history, and most commands need them only when a snapshot seems to be missing."""
        if self._forgotten is None:
            inv = self._inventory
            stores = [s for s in inv.stores if s.name in self.listings]
            self._forgotten = asyncio.ensure_future(load_forgotten(inv.ring, self.registry, stores, self.current_keys()))
        return await asyncio.shield(self._forgotten)

    async def list_packs(self) -> None:
        """Add each listed store's packs prefix to its listing, once per run. A store whose packs
        cannot be listed becomes unlisted, as if its first listing had failed."""
        if self.packs_listed:
            return
        if self._packs is None:
            self._packs = asyncio.ensure_future(self._list_packs())
        await asyncio.shield(self._packs)

    async def _list_packs(self) -> None:
        async def one(store: Store) -> None:
            try:
                packs = await self._inventory.listing(store, packs_prefix(self.tag))
            except StoreError as e:
                self.listings.pop(store.name, None)
                self.held.pop(store.name, None)
                self.findings[:] = [f for f in self.findings if f.store != store.name]
                for sid, copies in list(self._unchecked.items()):
                    self._unchecked[sid] = [c for c in copies if c.store.name != store.name]
                self.unlisted[store.name] = e
                return
            self.listings[store.name] = self.listings[store.name].merged(packs)

        await asyncio.gather(*(one(s) for s in self._inventory.stores if s.name in self.listings))

    async def settle(self, sids: Iterable[str]) -> None:
        """Check every copy of these snapshots (those not yet checked)."""
        todo = {sid: self._unchecked.pop(sid) for sid in set(sids) if sid in self._unchecked}
        if not todo:
            return
        await self._inventory._from_cache(sorted(todo))
        outcomes = await asyncio.gather(
            *(self._inventory._snapshot(self.registry, self.tag, sid, c) for sid, c in sorted(todo.items()))
        )
        for results in outcomes:
            for store_name, outcome in results:
                if isinstance(outcome, Finding):
                    self.findings.append(outcome)
                else:
                    self.held[store_name][outcome.id] = outcome
        self.findings.sort(key=lambda f: (self.order.index(f.store), f.key))

    async def settle_all(self) -> None:
        await self.settle(list(self._unchecked))

    async def newest_first(self, store: str | None = None) -> AsyncIterator[SnapshotRef]:
        """Verified snapshots (of one store, or any), newest first by their verified time, each
        checked only when reached: a name sorting first (junk, or a real manifest under a future
        time) costs one check, and is then a finding or takes its verified place in the order."""

        def verified(sid: str) -> SnapshotRef | None:
            return self.held.get(store, {}).get(sid) if store is not None else self.refs.get(sid)

        queue: list[tuple[str, str, bool]] = [(r.key_time, r.id, True) for r in self.ordered(store)]
        for sid, copies in self._unchecked.items():
            times = [c.key_time for c in copies if store is None or c.store.name == store]
            if times:
                queue.append((max(times), sid, False))  # the time in a name: a claim until checked
        queue.sort()
        while queue:
            _, sid, checked = queue.pop()
            if not checked:
                await self.settle([sid])
                ref = verified(sid)
                if ref is not None:
                    bisect.insort(queue, (ref.key_time, sid, True))
                continue
            ref = verified(sid)
            if ref is not None:
                yield ref

    async def latest(self, store: str | None = None) -> SnapshotRef | None:
        """The newest snapshot that verifies (in ``store``, or anywhere)."""
        async for ref in self.newest_first(store):
            return ref
        return None

    @property
    def refs(self) -> dict[str, SnapshotRef]:
        """Every snapshot some store holds verified (a verified name is the same in every store)."""
        out: dict[str, SnapshotRef] = {}
        for name in self.order:
            for sid, ref in self.held.get(name, {}).items():
                out.setdefault(sid, ref)
        return out

    def ordered(self, store: str | None = None) -> list[SnapshotRef]:
        """Verified snapshots (of one store, or all), oldest first, ties by id as ``latest`` breaks them."""
        refs = self.held.get(store, {}).values() if store is not None else self.refs.values()
        return sorted(refs, key=lambda r: (r.key_time, r.id))

    def newest(self, store: str | None = None) -> SnapshotRef | None:
        refs = self.ordered(store)
        return refs[-1] if refs else None

    def holders(self, sid: str) -> list[str]:
        return [n for n in self.order if sid in self.held.get(n, {})]

    def listed_ids(self) -> set[str]:
        """Ids named under the snapshots prefix anywhere, verified or not."""
        out = set()
        for listing in self.listings.values():
            for key in listing.sizes:
                parsed = parse_snapshot_key(key) if key.startswith(snapshots_prefix(self.tag)) else None
                if parsed is not None:
                    out.add(parsed[1])
        return out

    def current_keys(self) -> dict[str, list[str]]:
        """Per listed store, the keys a plain listing shows (for readers that list no further)."""
        return {n: [k for k in listing.sizes if listing.current(k)] for n, listing in self.listings.items()}

    def findings_of(self, store: str) -> list[Finding]:
        return [f for f in self.findings if f.store == store]

    def suspect(self) -> dict[str, str]:
        """Stores this registry's decisions must not rely on: unlisted, or holding objects that do
        not verify; each with the first reason, as one line."""
        out = {n: str(e) for n, e in self.unlisted.items()}
        for f in self.findings:
            out.setdefault(f.store, f"{f.line()} (does not verify)")
        return out

    def warnings(self) -> list[str]:
        """One line per store whose objects failed, for commands that go on without them."""
        lines = []
        for name in self.order:
            bad = self.findings_of(name)
            if bad:
                first = bad[0]
                what = f"{first.key or 'an object'} does not verify" + (f": {first.detail}" if first.detail else "")
                more = f"; so do {len(bad) - 1} more objects there; all" if len(bad) > 1 else ";"
                lines.append(f"store {name}: {what}{more} ignored, snapshots taken from what verifies")
        return lines

    def packs(self, store: str) -> dict[str, Stored]:
        listing = self.listings[store]
        prefix = packs_prefix(self.tag)
        out = {}
        for key in listing.sizes:
            if key.startswith(prefix):
                pack_id = id_in_key(key)
                if pack_id is not None:
                    out[pack_id] = listing.stored(key)
        return out

    def snapshot_objects(self, store: str) -> dict[str, Stored]:
        """Verified snapshots of ``store`` with every version of their manifest object."""
        listing = self.listings[store]
        return {sid: listing.stored(ref.key) for sid, ref in self.held.get(store, {}).items()}

    async def manifest(self, sid: str, prefer: list[str] | None = None) -> tuple[Manifest, str]:
        """The decrypted manifest of a verified snapshot and the store credited with it."""
        return await self._inventory.manifest(self, sid, prefer)

    async def summary(self, sid: str, prefer: list[str] | None = None) -> ManifestSummary:
        """What a verified snapshot's manifest lists besides its files: previous, packs."""
        return await self._inventory.summary(self, sid, prefer)


@dataclass(frozen=True, slots=True)
class _Copy:
    store: Store
    key: str
    key_time: str
    sizes: frozenset[int]
    versioned: bool


class Inventory:
    """The per-run inventory over ``stores``. ``read``: stores whose every manifest copy is fetched
    and hash-checked (verify's checked stores); the others are credited by name and size once a
    copy of the same id verified. ``read_indexed``: the ``read`` stores' copies of an id whose MAC'd
    summary the cache holds are read too (else credited by name and size against it). ``cache``:
    where verified manifest bytes and summaries are kept between runs (None keeps them in memory
    for this run only)."""

    def __init__(
        self,
        ring: Keyring,
        stores: list[Store],
        cache: LocalCache | None = None,
        *,
        read: Collection[str] = (),
        read_indexed: bool = True,
        parallel: int = 8,
    ) -> None:
        self.ring = ring
        self.stores = stores
        self.cache = cache or LocalCache(None)
        self.read = set(read)
        self.read_indexed = read_indexed
        self.index = SummaryIndex(ring, self.cache)
        self._summaries: dict[str, ManifestSummary] = {}  # verified before: from the cache's index
        self._verify_key = VerifyKey(ring.signing.public)
        self._slots = asyncio.Semaphore(parallel)
        self._full: dict[str, Listing | StoreError] = {}
        self._listings: dict[tuple[str, str], asyncio.Future[Listing]] = {}
        self._registries: dict[str, asyncio.Future[RegistryInventory]] = {}
        self._verified: dict[str, tuple[SnapshotHeader, int]] = {}  # id -> signed header, byte length
        self._bytes: dict[str, bytes] = {}  # verified bytes the cache could not keep
        self._catalogs: dict[str, Catalog] = {}

    def catalog(self, registry: str) -> Catalog:
        if registry not in self._catalogs:
            self._catalogs[registry] = Catalog(self.ring, registry)
        return self._catalogs[registry]

    # -- listings ------------------------------------------------------------------------------------

    def prime(self, store: str, listing: Listing | StoreError) -> None:
        """A whole-store listing made earlier in the run (verify lists while the keyring opens)."""
        self._full[store] = listing

    async def listing(self, store: Store, prefix: str = "") -> Listing:
        """The store's objects under ``prefix``, listed once per run; raises StoreError."""
        full = self._full.get(store.name)
        if isinstance(full, StoreError):
            raise full
        if full is not None:
            return full.under(prefix) if prefix else full
        slot = (store.name, prefix)
        if slot not in self._listings:
            self._listings[slot] = asyncio.ensure_future(list_store(store, prefix))
        return await asyncio.shield(self._listings[slot])

    # -- registries ----------------------------------------------------------------------------------

    async def registry(self, name: str, complete: bool = True, packs: bool = True) -> RegistryInventory:
        """The inventory of one registry (listed once per run). ``complete``: every snapshot
        checked (what prune, verify and ``snapshots`` need); else they are checked as reached
        (``latest``, ``settle``), so a restore of the newest costs the same with 10 or 1,000.
        ``packs``: the packs prefix listed too (backup, prune, verify); restore and status fetch
        the packs they need by name, so their cost does not grow with the packs a history holds."""
        if name not in self._registries:
            self._registries[name] = asyncio.ensure_future(self._build(name, packs))
        inv = await asyncio.shield(self._registries[name])
        if packs:
            await inv.list_packs()
        if complete:
            await inv.settle_all()
        return inv

    async def _build(self, name: str, packs: bool) -> RegistryInventory:
        """``packs``: list the packs prefix beside the others (each store's prefixes side by side)."""
        tag = self.catalog(name).tag
        listings: dict[str, Listing] = {}
        unlisted: dict[str, StoreError] = {}
        prefixes = (*_named_prefixes(tag), packs_prefix(tag)) if packs else _named_prefixes(tag)

        async def list_one(store: Store) -> None:
            try:
                named = await asyncio.gather(*(self.listing(store, p) for p in prefixes))
            except StoreError as e:
                unlisted[store.name] = e
                return
            listings[store.name] = functools.reduce(Listing.merged, named)

        await asyncio.gather(*(list_one(s) for s in self.stores))
        findings: list[Finding] = []
        copies: dict[str, list[_Copy]] = {}
        prefix = snapshots_prefix(tag)
        for store in self.stores:
            listing = listings.get(store.name)
            if listing is None:
                continue
            for key, sizes in sorted(listing.sizes.items()):
                if not key.startswith(prefix):
                    continue
                parsed = parse_snapshot_key(key)
                if parsed is None or key.count("/") != 3:
                    findings.append(Finding(store.name, key, "damaged", "not a snapshot manifest's name"))
                    continue
                copy = _Copy(store, key, parsed[0], frozenset(sizes), listing.versioned)
                copies.setdefault(parsed[1], []).append(copy)
        held: dict[str, dict[str, SnapshotRef]] = {n: {} for n in listings}
        order = [s.name for s in self.stores]
        return RegistryInventory(name, tag, order, listings, unlisted, held, findings, self, copies, packs)

    async def _snapshot(
        self, registry: str, tag: str, sid: str, copies: list[_Copy]
    ) -> list[tuple[str, SnapshotRef | Finding]]:
        """Each store's copy of one snapshot: read (checked stores, or until one verifies), else
        credited by name and size against the copy that verified."""
        read = [
            c for c in copies if c.store.name in self.read and (self.read_indexed or sid not in self._summaries)
        ]
        out = list(await asyncio.gather(*(self._read_copy(registry, tag, sid, c) for c in read)))
        for c in copies:
            if c in read:
                continue
            known = self._verified.get(sid)
            out.append(
                self._by_name(registry, tag, sid, c, known) if known else await self._read_copy(registry, tag, sid, c)
            )
        return out

    async def _from_cache(self, sids: list[str]) -> None:
        """Load the MAC'd summaries, else check the cached bytes, of many snapshots in one worker
        thread (one hop, not one each); the stores' copies are then credited by name and size."""
        todo = [sid for sid in sids if sid not in self._verified and sid not in self._bytes]
        if not todo or self.cache.manifests is None:
            return

        def check() -> tuple[dict[str, ManifestSummary], dict[str, tuple[SnapshotHeader, int]]]:
            summaries, found = {}, {}
            for sid in todo:
                summary = self.index.load(sid)
                if summary is not None:
                    summaries[sid] = summary
                    found[sid] = (summary.header, summary.size)
                    continue
                data = self.cache.manifest(sid)
                if data is None:
                    continue
                try:
                    opened = open_snapshot(data, self._verify_key, f"local cache: {sid}", sid)
                except IntegrityError:
                    continue  # a damaged cache entry: the stores' copies are read instead
                found[sid] = (opened.header, len(data))
            return summaries, found

        summaries, found = await asyncio.to_thread(check)
        self._summaries.update(summaries)
        self._verified.update(found)

    def _ref(self, registry: str, sid: str, c: _Copy) -> SnapshotRef:
        return SnapshotRef(registry, sid, c.key_time, c.key)

    def _by_name(
        self, registry: str, tag: str, sid: str, c: _Copy, known: tuple[SnapshotHeader, int]
    ) -> tuple[str, SnapshotRef | Finding]:
        header, size = known
        name = c.store.name
        if size not in c.sizes:
            return name, Finding(name, c.key, "damaged", "its size differs from the verified copy of that id")
        problem = _header_problem(header, tag, c.key_time)
        if problem:
            return name, Finding(name, c.key, "damaged", problem)
        return name, self._ref(registry, sid, c)

    async def _read_copy(self, registry: str, tag: str, sid: str, c: _Copy) -> tuple[str, SnapshotRef | Finding]:
        name = c.store.name
        data: bytes | None = None
        if name not in self.read:
            cached = self._bytes.get(sid) or await asyncio.to_thread(self.cache.manifest, sid)
            if cached is not None and len(cached) in c.sizes:
                data = cached
        fetched = data is None
        try:
            if data is None:
                async with self._slots:
                    data = (await fetch_verified(c.store, c.key, sid, versioned=c.versioned)).data
            opened = await _off_loop(data, open_snapshot, self._verify_key, f"store {name}: {c.key}", sid)
        except SignatureError as e:
            return name, Finding(name, c.key, "forged", _detail(e, name, c.key))
        except (IntegrityError, ObjectNotFoundError) as e:
            return name, Finding(name, c.key, "damaged", _detail(e, name, c.key))
        except StoreError as e:
            return name, Finding(name, c.key, "damaged", f"could not be read: {_detail(e, name, c.key)}")
        problem = _header_problem(opened.header, tag, c.key_time)
        if problem:
            return name, Finding(name, c.key, "damaged", problem)
        if sid not in self._verified:
            self._verified[sid] = (opened.header, len(data))
            if fetched:
                await self._keep(sid, data)
        return name, self._ref(registry, sid, c)

    async def _keep(self, sid: str, data: bytes) -> None:
        try:
            if self.cache.manifests is None:
                raise OSError("no cache")
            await asyncio.to_thread(self.cache.remember_manifest, sid, data)  # fsync: off the loop
        except OSError:
            self._bytes[sid] = data

    # -- manifests -----------------------------------------------------------------------------------

    async def manifest(self, inv: RegistryInventory, sid: str, prefer: list[str] | None = None) -> tuple[Manifest, str]:
        """Decrypt a verified snapshot's manifest (bytes from this run, the cache, or a holder).
        Raises IntegrityError when it cannot be decrypted, ObjectNotFoundError when no store has it."""
        holders = inv.holders(sid)
        if prefer is not None:
            holders = [n for n in prefer if n in holders] + [n for n in holders if n not in prefer]
        if not holders:
            raise ObjectNotFoundError("-", f"snapshot {sid}")
        ref = inv.held[holders[0]][sid]
        catalog = self.catalog(inv.registry)
        data = self._bytes.get(sid) or await asyncio.to_thread(self.cache.manifest, sid)
        if data is not None and await _off_loop(data, object_id) == sid:
            opened, manifest = await _off_loop(data, catalog.open, ref, "local cache")
            await self._summarize(ManifestSummary.of(sid, len(data), opened.header, manifest))
            return manifest, holders[0]
        problems: list[Exception] = []
        by_name = {s.name: s for s in self.stores}
        for name in holders:
            store = by_name[name]
            try:
                async with self._slots:
                    fetched = await fetch_verified(store, ref.key, sid, versioned=inv.listings[name].versioned)
                opened, manifest = await _off_loop(fetched.data, catalog.open, ref, f"store {name}")
            except ObjectNotFoundError:
                continue
            except (StoreError, IntegrityError) as e:
                problems.append(e)
                continue
            await self._keep(sid, fetched.data)
            await self._summarize(ManifestSummary.of(sid, len(fetched.data), opened.header, manifest))
            return manifest, name
        for problem in problems:
            if isinstance(problem, IntegrityError):
                raise problem
        if problems:
            raise problems[0]
        raise ObjectNotFoundError(holders[0], ref.key)

    async def summary(self, inv: RegistryInventory, sid: str, prefer: list[str] | None = None) -> ManifestSummary:
        """A verified snapshot's summary (previous, packs): from the cache's MAC'd index when this
        run credited the id from it, else from its manifest, decrypted (raises as :meth:`manifest`)."""
        known = self._summaries.get(sid)
        if known is not None and inv.holders(sid):
            return known
        await self.manifest(inv, sid, prefer)
        return self._summaries[sid]

    async def _summarize(self, summary: ManifestSummary) -> None:
        if summary.id not in self._summaries:
            self._summaries[summary.id] = summary
            await asyncio.to_thread(self.index.remember, summary)

    def forget(self, sid: str) -> None:
        """A snapshot pruned from every store: drop its cached bytes and summary."""
        self._bytes.pop(sid, None)
        self._summaries.pop(sid, None)
        self.cache.forget_manifest(sid)


def _named_prefixes(tag: str) -> tuple[str, str]:
    """The prefixes every reader lists: manifests and forget records (packs only when asked)."""
    return snapshots_prefix(tag), forgotten_prefix(tag)


def _header_problem(header: SnapshotHeader, tag: str, key_time: str) -> str | None:
    if header.registry_tag != tag:
        return "manifest belongs to another registry"
    if time_for_key(header.time) != key_time:
        return "the time in its name differs from the signed time"
    return None


def _detail(e: Exception, store: str, key: str) -> str:
    """The error's message without the ``store S: key:`` the finding already carries."""
    text = str(e)
    for prefix in (f"store {store}: {key}: ", f"store {store}: "):
        text = text.removeprefix(prefix)
    return text


async def _off_loop(data: bytes, fn: Callable[..., T], *args: Any) -> T:
    """``fn(data, *args)``: hashing, signature checks and decryption of a large manifest in a worker
    thread (never on the event loop), of a small one inline."""
    if len(data) < (64 << 10):
        return fn(data, *args)
    return await asyncio.to_thread(fn, data, *args)


__all__ = ["Finding", "FindingKind", "Inventory", "Listing", "RegistryInventory", "Stored", "Version", "list_store"]
