"""Retention: forget the snapshots the keep policy lets go, then delete the packs nothing needs.

The rules, each for a reason (docs/format.md section 9b; README "Retention and prune"):

1. Prune changes a store only while it holds that store's exclusive lock (replication/locks.py);
   backups hold shared locks, so no backup runs there meanwhile. ``dry_run`` takes no lock and
   changes nothing.
2. The policy (replication/keep.py) runs per registry over the union of the *verified* snapshots
   (replication/inventory.py) of the stores prune can trust for that registry. A store that could
   not be listed, or lists objects that do not verify, is set aside for the registry (named, exit 3):
   nothing is deleted there and nothing it holds counts, so what a hostile store plants or
   withholds never widens what is deleted elsewhere. Seeing fewer snapshots only ever makes the
   policy keep more of those it sees.
3. Before any manifest of a registry is deleted, a signed forget record naming the forgotten
   snapshots is written to the store (replication/forget.py), so the chain still verifies.
4. A pack is deleted only when no kept snapshot lists it (every kept manifest is loaded and
   verified: if one cannot be, nothing of that registry is forgotten or deleted), no forgotten snapshot still
   present in that store lists it, and it was written more than ``grace`` ago (a second line of
   defence for a writer whose lock lapsed).
5. Nothing under retention is touched: an object locked until DATE is reported held until DATE.
   On a versioned bucket every version and delete marker of an object is deleted, by version id,
   so the space is really freed; if any version is still held, none is deleted.
6. Manifests go before packs, and every deletion first checks that our lock still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from keys import Keyring
from replication.cache import LocalCache
from replication.crypto import object_id as content_id
from replication.errors import IntegrityError, ObjectLockedError, ObjectNotFoundError, ReplicationError, StoreError
from replication.forget import ForgetRecord, encode_record, forgotten_key, load_forgotten
from replication.inventory import Inventory, RegistryInventory, Stored
from replication.keep import apply_keep
from replication.locks import DEFAULT_TTL, LockAuth, LockSet, acquire, remove_expired
from replication.prune_report import PruneResult, RegistryReport, StoreReport
from replication.repository import check_owner
from replication.retention import RetentionMemory, retain_until
from replication.spec import KeepPolicy
from replication.stores import Store
from replication.summary import ManifestSummary

T = TypeVar("T")
DEFAULT_GRACE = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class PruneOptions:
    dry_run: bool = False
    grace: timedelta = DEFAULT_GRACE  # unreferenced packs younger than this stay
    lock_wait: timedelta = timedelta(minutes=10)  # how long to wait for running backups
    lock_ttl: timedelta = DEFAULT_TTL
    parallel: int = 16  # deletions and manifest loads in flight (each store also caps its own)


def key_time_to_datetime(key_time: str) -> datetime:
    """``20261127T082146.123456Z`` -> an aware UTC datetime."""
    return datetime.strptime(key_time, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)


def _iso(key_time: str) -> str:
    return key_time_to_datetime(key_time).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class _Held:
    """What one trusted store holds of one registry: verified snapshots and packs, every version."""

    snapshots: dict[str, Stored]
    packs: dict[str, Stored]


@dataclass
class _RegistryWork:
    """What every store's share of one registry's prune needs to know."""

    inventory: RegistryInventory
    forgotten: tuple[str, ...]
    referenced: set[str]
    report: RegistryReport
    recorded: set[str]  # stores holding a forget record for every forgotten snapshot they hold
    started: datetime
    stores: list[Store]  # the live ones
    still_present: set[str] = field(default_factory=set)  # forgotten snapshots some store keeps


class Pruner:
    """Apply a keep policy to registries in stores. One instance per run."""

    def __init__(
        self,
        ring: Keyring,
        stores: list[Store],
        registries: list[str],
        policy: KeepPolicy,
        cache_dir: Path | None,
        options: PruneOptions | None = None,
    ) -> None:
        self.ring = ring
        self.stores = stores
        self.registries = registries
        self.policy = policy
        self.cache_dir = cache_dir
        self.options = options or PruneOptions()
        self.reports = {s.name: StoreReport(s.name) for s in stores}
        self.cache = LocalCache(cache_dir)
        self.retention = {s.name: RetentionMemory(self.cache.retention(s.name)) for s in stores}
        self.inventory = Inventory(ring, stores, self.cache)
        self.versioned: dict[str, bool] = {}
        self.locks = LockSet(self.options.lock_ttl)
        self._slots = asyncio.Semaphore(self.options.parallel)

    async def _bounded(self, work: Awaitable[T]) -> T:
        async with self._slots:
            return await work

    # -- the run -----------------------------------------------------------------------------------

    async def run(self) -> PruneResult:
        started = datetime.now(UTC)
        results: dict[str, RegistryReport] = {}
        try:
            live = await self._take_stores()
            self.inventory = Inventory(self.ring, live, self.cache)  # the stores this run works on
            for name in self.registries:
                results[name] = await self._registry(name, live, started)
        finally:
            await self.locks.release()
            for memory in self.retention.values():
                memory.save()
        return PruneResult(self.options.dry_run, results, self.reports)

    async def _take_stores(self) -> list[Store]:
        """The stores this run works on: locked (or, in a dry run, reachable); the others reported."""

        async def check(store: Store) -> None:
            try:
                await store.check()  # briefly retried: a store that is down is set aside at once
                with contextlib.suppress(IntegrityError):  # an altered config of ours: verify's finding
                    await check_owner(store, self.ring)  # another mission's repository: never touched
                self.versioned[store.name] = await store.versioned()
            except StoreError as e:
                self.reports[store.name].error = str(e)

        await asyncio.gather(*(check(s) for s in self.stores))
        reachable = [s for s in self.stores if self.reports[s.name].error is None]
        if self.options.dry_run:
            return reachable
        self.locks, failed = await acquire(
            reachable, "prune", self.options.lock_wait, self.options.lock_ttl, auth=LockAuth.for_ring(self.ring)
        )
        for name, error in failed.items():
            self.reports[name].error = str(error)
        held = [s for s in reachable if s.name in self.locks.locks]
        for store in held:
            with contextlib.suppress(StoreError):  # crashed holders' locks: tidy, not essential
                await remove_expired(store, older_than=self.options.lock_ttl)
        return held

    async def _registry(self, name: str, live: list[Store], started: datetime) -> RegistryReport:
        report = RegistryReport(name)
        inv = await self.inventory.registry(name)
        # Rule 2: a store that could not be listed, or lists objects that do not verify, is set
        # aside for this registry: nothing is deleted there, and what it holds decides nothing.
        for store_name, why in inv.suspect().items():
            self.reports[store_name].problem(f"registry {name}: set aside, nothing deleted there: {why}")
        suspect = inv.suspect()
        stores = [s for s in live if s.name in inv.listings and s.name not in suspect]
        holdings = {s.name: _Held(inv.snapshot_objects(s.name), inv.packs(s.name)) for s in stores}
        times: dict[str, str] = {}
        for s in stores:
            for sid, ref in inv.held[s.name].items():
                times[sid] = ref.key_time
        if not times:
            return report
        decision = apply_keep(((sid, key_time_to_datetime(t)) for sid, t in times.items()), self.policy)
        report.kept = [{"id": sid, "time": _iso(times[sid]), "reasons": list(r)} for sid, r in decision.kept.items()]
        report.forgotten = [{"id": sid, "time": _iso(times[sid])} for sid in decision.forgotten]
        trusted = [s.name for s in stores]

        # Every pack a kept snapshot lists. A kept manifest that cannot be read: nothing is forgotten
        # or deleted for this registry (its packs are unknown, and so is what it still needs).
        referenced: set[str] = set()
        kept_ids = list(decision.kept)
        loaded = await asyncio.gather(
            *(self._bounded(inv.summary(sid, trusted)) for sid in kept_ids), return_exceptions=True
        )
        for sid, outcome in zip(kept_ids, loaded, strict=True):
            if isinstance(outcome, ManifestSummary):
                referenced.update(p.id for p in outcome.packs)
            elif isinstance(outcome, ReplicationError):
                if report.packs_blocked is None or isinstance(outcome, IntegrityError):
                    report.packs_blocked = (
                        f"kept snapshot {sid[:12]} could not be loaded, so nothing was forgotten or deleted: {outcome}"
                    )
                    report.integrity = report.integrity or isinstance(outcome, IntegrityError)
            elif isinstance(outcome, BaseException):
                raise outcome
        report.referenced_packs = len(referenced)
        if report.packs_blocked:
            report.forgotten = []
            return report

        # The forget record goes first: a store where it cannot be written keeps its manifests.
        recorded = await self._record(inv, {sid: times[sid] for sid in decision.forgotten}, stores, holdings)
        work = _RegistryWork(inv, decision.forgotten, referenced, report, recorded, started, stores)
        await asyncio.gather(*(self._prune_store(s, holdings[s.name], work) for s in stores))
        if not self.options.dry_run:
            for sid in set(decision.forgotten) - work.still_present:
                if not any(sid in inv.held.get(n, {}) for n in suspect):
                    self.inventory.forget(sid)
        return report

    async def _record(
        self, inv: RegistryInventory, forgotten: dict[str, str], stores: list[Store], holdings: dict[str, _Held]
    ) -> set[str]:
        """Make sure each store that holds forgotten snapshots also holds a forget record naming them;
        returns the stores that do (only those may delete the manifests)."""
        if not forgotten or self.options.dry_run:
            return {s.name for s in stores}
        known = await load_forgotten(self.ring, inv.registry, stores, inv.current_keys())
        missing = {
            s.name: {sid for sid in forgotten if sid in holdings[s.name].snapshots} - known.by_store[s.name]
            for s in stores
        }
        uncovered = set().union(*missing.values())
        if not uncovered:
            return {s.name for s in stores}
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        record = ForgetRecord(inv.tag, now, {sid: forgotten[sid] for sid in uncovered})
        data = await asyncio.to_thread(encode_record, record, self.ring.signing.id, self.ring.signing_key())
        key = forgotten_key(inv.tag, now, content_id(data))
        done = {name for name, ids in missing.items() if not ids}

        async def put(store: Store) -> None:
            until = retain_until(store.lock_days)
            try:
                self.locks.ensure_held(store.name)
                await store.put(key, data, until)
            except StoreError as e:
                self.reports[store.name].problem(
                    f"registry {inv.registry}: forget record not written, so no manifest was deleted: {e}"
                )
                return
            if until is not None:
                self.retention[store.name].set(key, until)
            done.add(store.name)

        await asyncio.gather(*(put(s) for s in stores if missing[s.name]))
        return done

    async def _prune_store(self, store: Store, held: _Held, work: _RegistryWork) -> None:
        rep = self.reports[store.name]
        inv = work.inventory
        here = [sid for sid in work.forgotten if sid in held.snapshots]
        remaining = here
        if here and store.name in work.recorded:
            gone = await asyncio.gather(
                *(self._bounded(self._remove(store, held.snapshots[sid], "manifest")) for sid in here)
            )
            remaining = [sid for sid, ok in zip(here, gone, strict=True) if not ok]
        work.still_present.update(remaining)
        if work.report.packs_blocked:
            return
        # Packs of forgotten snapshots still here (held, or their deletion failed) stay too.
        keep = set(work.referenced)
        for sid in remaining:
            try:
                summary = await inv.summary(sid, [store.name, *(s.name for s in work.stores)])
            except ReplicationError as e:
                rep.problem(
                    f"registry {inv.registry}: forgotten snapshot {sid[:12]} is still here but could not be "
                    f"loaded, so no pack was deleted: {e}"
                )
                return
            keep.update(p.id for p in summary.packs)
        cutoff = work.started - self.options.grace
        doomed: list[Stored] = []
        for pack_id, obj in sorted(held.packs.items()):
            if pack_id in keep:
                continue
            if not obj.written_before(cutoff):
                rep.young_packs += 1
                rep.young_bytes += obj.size
                continue
            doomed.append(obj)
        await asyncio.gather(*(self._bounded(self._remove(store, obj, "pack")) for obj in doomed))

    # -- one object --------------------------------------------------------------------------------

    async def _held_until(self, store: Store, obj: Stored, now: datetime) -> datetime | None:
        """The latest retention date still in force on any version, or None."""
        if not self.versioned[store.name]:
            return None  # retention needs versioning (Object Lock): an unversioned store holds nothing
        memory = self.retention[store.name]
        remembered = memory.get(obj.key)
        if remembered is not None and remembered > now:
            return remembered  # retention only ever grows: a remembered future date is in force
        latest: datetime | None = None
        for v in obj.versions:
            if v.delete_marker:
                continue
            try:
                until = await store.retention(obj.key, v.id)
            except ObjectNotFoundError:
                continue
            if until is not None and until > now and (latest is None or until > latest):
                latest = until
        if latest is not None:
            memory.set(obj.key, latest)
        return latest

    async def _remove(self, store: Store, obj: Stored, kind: str) -> bool:
        """Delete every version of ``obj`` unless one is held; True when it is gone (or would be)."""
        rep = self.reports[store.name]
        now = datetime.now(UTC)
        try:
            until = await self._held_until(store, obj, now)
        except StoreError as e:
            rep.problem(f"{obj.key}: retention could not be read: {e}")
            return False
        if until is not None:
            rep.held.append({"key": obj.key, "until": until.astimezone(UTC).isoformat()})
            return False
        if not self.options.dry_run:
            try:
                self.locks.ensure_held(store.name)
                if self.versioned[store.name]:
                    # Markers last: while a version remains, the key stays visible as what it is.
                    for v in sorted(obj.versions, key=lambda v: v.delete_marker):
                        await store.delete(obj.key, v.id)
                else:
                    await store.delete(obj.key)
            except ObjectLockedError as e:
                # Locked after all (retention set by another machine since we looked)? Then it is held.
                until = await self._refused_until(store, obj)
                if until is not None:
                    rep.held.append({"key": obj.key, "until": until.astimezone(UTC).isoformat()})
                else:
                    rep.problem(str(e))
                return False
            except StoreError as e:
                rep.problem(str(e))
                return False
            rep.deleted += 1
            rep.deleted_bytes += obj.size
            self.retention[store.name].discard(obj.key)
        if kind == "manifest":
            rep.manifests += 1
            rep.manifest_bytes += obj.size
        else:
            rep.packs += 1
            rep.pack_bytes += obj.size
        return True

    async def _refused_until(self, store: Store, obj: Stored) -> datetime | None:
        with contextlib.suppress(StoreError):
            self.retention[store.name].discard(obj.key)  # what we remembered was wrong: ask the store
            return await self._held_until(store, obj, datetime.now(UTC))
        return None
