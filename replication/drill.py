"""Restore drills: prove that each store can give back each registry, and how fast.

For each store and registry, the newest snapshot *in that store* is restored from that store
alone (the restorer gets no other store to fall back on, so a store that cannot give its data
intact fails its drill) into a private scratch folder. The restore checks every byte: the
manifest's id, signature and chain, and each blob's AEAD tag, length and keyed chunk id. The
manifest is fetched from the store, never taken from the local cache, so the store's own copy is
what gets verified. Then the snapshot is compared with the live registry (live_compare.py).

- RTO (``seconds``): from fetching the manifest to the last byte written, as an operator restoring
  from this store would wait. The comparison and SQLite's integrity check are timed apart.
- RPO (``rpo_seconds``): the drill's time minus the snapshot's signed time: the data that would be
  lost if the registry had to come back from this store now.

The scratch folder is removed whatever happens (failure, cancellation). A store's registries are
drilled side by side, as `restore --all` recovers them, so each RTO is measured while the others
restore too, and the store's drill takes what a whole recovery from it takes; the comparisons with
the live registries start once every restore of the store has ended. Stores one after
another by default: with stores on the same machine or sharing its
cores, drilling three at once took as long as one after another (400 MiB here: 7.7 s against
7-9.8 s), tripled each RTO and took 280 MiB instead of 170; ``parallel_stores`` > 1 is for stores
far away whose links, not this machine, are the limit (each restore bounds its own memory).

Some kinds bring a check of their own on the restored snapshot (``checks``, by registry kind):
a postgres registry's dump is restored with ``pg_restore`` into a scratch database and its row
counts compared with the recorded ones (pg_drill.py). Its time counts as comparison, not RTO.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keys import Keyring
from replication.cache import LocalCache
from replication.errors import IntegrityError, ReplicationError, SnapshotNotFoundError, StoreError
from replication.inventory import Inventory
from replication.live_compare import Comparison, check_sqlite_integrity, compare_directory, compare_sqlite
from replication.manifest import Manifest
from replication.pg_drill import RestoredCheck, TableCheck, check_postgres_snapshot
from replication.progress import NoProgress, Progress
from replication.restore import Restorer, find_snapshot
from replication.slots import PackSlots
from replication.spec import RegistrySpec
from replication.stores import Store


@dataclass(slots=True)
class DrillResult:
    store: str
    registry: str
    ok: bool = False
    id: str | None = None
    time: str | None = None  # the snapshot's signed time
    seconds: float = 0.0  # RTO
    bytes: int = 0
    files: int = 0
    rpo_seconds: float | None = None
    compared: str = ""
    identical: int = 0
    changed: int = 0
    compare_seconds: float = 0.0
    chain: str | None = None
    error: str | None = None
    started: str = ""  # when this drill began, UTC
    # When the restore began and ended (monotonic clock): with registries restored side by side,
    # a store's whole-recovery time is the span from the first start to the last end.
    restore_window: tuple[float, float] | None = None
    warnings: list[str] = field(default_factory=list)  # the store's objects that did not verify
    tables: tuple[TableCheck, ...] | None = None  # postgres: each table's recorded and restored rows

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "store": self.store,
            "registry": self.registry,
            "id": self.id,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "bytes": self.bytes,
            "rpo_seconds": None if self.rpo_seconds is None else round(self.rpo_seconds, 1),
            "time": self.time,
            "files": self.files,
            "compared": self.compared,
            "identical": self.identical,
            "changed": self.changed,
            "compare_seconds": round(self.compare_seconds, 3),
            "chain": self.chain,
            "error": self.error,
            "started": self.started,
            "warnings": self.warnings,
        }
        if self.tables is not None:
            doc["tables"] = [t.to_json() for t in self.tables]
        return doc


def store_recovery_seconds(results: list[DrillResult]) -> dict[str, float | None]:
    """Per store: the wall time to restore all its registries (they run side by side), or None if
    any failed: what recovering the whole mission from that store takes."""
    out: dict[str, float | None] = {}
    for store in dict.fromkeys(r.store for r in results):
        mine = [r for r in results if r.store == store]
        windows = [r.restore_window for r in mine if r.restore_window is not None]
        if not all(r.ok for r in mine) or len(windows) != len(mine):
            out[store] = None
        else:
            out[store] = max(w[1] for w in windows) - min(w[0] for w in windows)
    return out


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """A manifest's time (``2026-11-27T08:30:36.907158Z``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


ProgressFactory = Callable[[str, str], Progress]
# A kind's own check of a restored snapshot: the registry, its verified manifest, the restore folder.
RestoredSnapshotCheck = Callable[[RegistrySpec, Manifest, Path], Awaitable[RestoredCheck]]
DEFAULT_CHECKS: Mapping[str, RestoredSnapshotCheck] = {"postgres": check_postgres_snapshot}


class Drill:
    def __init__(
        self,
        ring: Keyring,
        scratch: Path,
        progress: ProgressFactory | None = None,
        parallel_stores: int = 1,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        full_check: bool = False,
        checks: Mapping[str, RestoredSnapshotCheck] = DEFAULT_CHECKS,
    ) -> None:
        self.ring = ring
        self.scratch = scratch
        self.progress: ProgressFactory = progress or (lambda store, registry: NoProgress())
        self.parallel = max(1, parallel_stores)
        # Packs in flight over every restore of the drill (registries run side by side): flat memory.
        self._pack_slots = PackSlots(6 * self.parallel)
        self.clock = clock
        self.full_check = full_check  # integrity_check even a database proven identical to the live one
        self.checks = checks

    async def run(self, stores: list[Store], registries: list[RegistrySpec]) -> list[DrillResult]:
        """Every store × registry, in that order; one result each, failures included."""
        limit = asyncio.Semaphore(self.parallel)

        async def one(store: Store) -> list[DrillResult]:
            async with limit:
                return await self.drill_store(store, registries)

        per_store = await asyncio.gather(*(one(s) for s in stores))
        return [r for results in per_store for r in results]

    async def drill_store(self, store: Store, registries: list[RegistrySpec]) -> list[DrillResult]:
        try:
            await store.check()  # briefly retried: a store that is down fails in seconds, not minutes
        except StoreError as e:
            started = utc_iso(self.clock())
            # The store layer names the store at each level: say it once.
            prefix = f"store {store.name}: "
            error = prefix + _one_line(e).removeprefix(prefix).replace(prefix, "")
            return [DrillResult(store.name, r.name, error=error, started=started) for r in registries]
        # A registry's scratch copy is removed while the next one restores (unlinking a GiB of
        # files takes a few tenths of a second); all are gone before the store's drill returns.
        removals: list[asyncio.Task[None]] = []
        # Side by side, as a recovery restores them (`restore --all`): one registry is often bound
        # by the store or the disk while another (a database of small blocks) uses the CPU. The
        # comparisons with the live registries wait until every restore is done, so no RTO is
        # inflated by another registry's comparison.
        restores = _Countdown(len(registries))
        try:
            return list(
                await asyncio.gather(*(self.drill_registry(store, spec, removals, restores) for spec in registries))
            )
        finally:
            await asyncio.gather(*removals, return_exceptions=True)

    async def drill_registry(
        self,
        store: Store,
        spec: RegistrySpec,
        removals: list[asyncio.Task[None]] | None = None,
        restores: _Countdown | None = None,
    ) -> DrillResult:
        """One drill; its scratch folder is removed before returning, or by a task added to ``removals``.
        ``restores``: counted down when this registry's restore ends (or fails); the comparison
        waits for zero."""
        result = DrillResult(store.name, spec.name, started=utc_iso(self.clock()))
        slot = (restores or _Countdown(1)).slot()
        try:
            folder = Path(
                await asyncio.to_thread(tempfile.mkdtemp, prefix=f"{store.name}-{spec.name}-", dir=self.scratch)
            )
        except OSError as e:
            slot.done()
            result.error = _one_line(e)
            return result
        try:
            await self._drill(store, spec, folder, result, slot)
            result.ok = True
        except (ReplicationError, OSError) as e:
            result.error = _one_line(e)
        finally:
            slot.done()  # counted once, whether the restore ended or failed
            if removals is None:
                await _remove(folder)
            else:
                removals.append(asyncio.ensure_future(_remove(folder)))
        return result

    async def _drill(self, store: Store, spec: RegistrySpec, folder: Path, result: DrillResult, slot: _Slot) -> None:
        # The manifest is verified from this store and kept in the drill's own folder, where the
        # restorer finds it: fetched once, checked twice, never from the mission's cache. The
        # newest snapshot that verifies in this store is the one drilled.
        inventory = Inventory(self.ring, [store], LocalCache(folder))
        inv = await inventory.registry(spec.name, complete=False, packs=False)
        if store.name in inv.unlisted:
            raise inv.unlisted[store.name]
        try:
            found = await find_snapshot(inv, "latest")
        except SnapshotNotFoundError as e:
            raise SnapshotNotFoundError(f"store {store.name} holds no snapshot of registry {spec.name}") from e
        finally:
            result.warnings = inv.warnings()
        result.id = found.ref.id
        restorer = Restorer(
            self.ring,
            spec.name,
            [store],
            folder,
            self.progress(store.name, spec.name),
            pack_slots=self._pack_slots,
            inventory=inventory,
        )
        started = time.monotonic()
        # The restore takes the inventory just made and the manifest it loads and verifies once.
        loaded = await restorer.load(found)
        manifest = loaded.manifest
        result.time = manifest.time
        result.rpo_seconds = max(0.0, (self.clock() - parse_time(manifest.time)).total_seconds())
        restored = await restorer.restore(loaded, folder / "restore")
        ended = time.monotonic()
        result.seconds = ended - started
        result.restore_window = (started, ended)
        result.bytes, result.files = restored.bytes, restored.files
        result.chain = restored.chain
        # After every restore of the store, not beside them: each RTO is then the restores' alone, and
        # on a loaded machine running both at once saved no wall time (the comparison reads ~2 GB/s).
        await slot.done_and_wait()
        comparison, compare_seconds = await self._compare_live(spec, manifest, folder / "live", folder / "restore")
        result.compared = comparison.summary
        result.identical, result.changed = comparison.identical, comparison.changed
        if spec.kind == "sqlite":
            # A restored database identical, block for block, to a consistent copy of the unchanged
            # live one is proven as sound as the database the application works on; otherwise SQLite
            # must vouch for it. (integrity_check reads at ~60 MB/s here, slower than the restore.)
            if self.full_check or not comparison.identical:
                check_started = time.monotonic()
                restored_db = next(e.path for e in manifest.entries if e.type == "file")
                await asyncio.to_thread(check_sqlite_integrity, folder / "restore" / restored_db)
                compare_seconds += time.monotonic() - check_started
                result.compared = f"restored database passes integrity_check; {comparison.summary}"
            else:
                result.compared = f"restored database identical to the unchanged live one; {comparison.summary}"
        check = self.checks.get(spec.kind)
        if check is not None:
            check_started = time.monotonic()
            try:
                outcome = await check(spec, manifest, folder / "restore")
            finally:
                compare_seconds += time.monotonic() - check_started
                result.compare_seconds = compare_seconds
            result.compared, result.tables = outcome.summary, outcome.tables
            if outcome.problem:
                raise IntegrityError(outcome.problem)
        result.compare_seconds = compare_seconds

    async def _compare_live(
        self, spec: RegistrySpec, manifest: Manifest, scratch: Path, restored: Path
    ) -> tuple[Comparison, float]:
        id_key = self.ring.id_key(spec.name)
        path = spec.path

        def run() -> tuple[Comparison, float]:
            started = time.monotonic()
            if spec.kind == "directory" and path is not None:
                comparison = compare_directory(manifest, path, id_key)
            elif spec.kind == "sqlite" and path is not None:
                scratch.mkdir(mode=0o700, exist_ok=True)
                restored_db = restored / next(e.path for e in manifest.entries if e.type == "file")
                comparison = compare_sqlite(manifest, path, id_key, scratch, restored_db)
            else:
                comparison = Comparison(
                    "not comparable: a dump command's output is produced anew on each run", comparable=False
                )
            return comparison, time.monotonic() - started

        return await asyncio.to_thread(run)


class _Countdown:
    """Counts the store's restores down to zero; comparisons wait for it."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.zero = asyncio.Event()
        if count <= 0:
            self.zero.set()

    def slot(self) -> _Slot:
        return _Slot(self)


class _Slot:
    """One registry's place in the countdown: counted at most once."""

    def __init__(self, countdown: _Countdown) -> None:
        self.countdown = countdown
        self.counted = False

    def done(self) -> None:
        if not self.counted:
            self.counted = True
            self.countdown.left -= 1
            if self.countdown.left <= 0:
                self.countdown.zero.set()

    async def done_and_wait(self) -> None:
        self.done()
        await self.countdown.zero.wait()


async def _remove(folder: Path) -> None:
    try:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, folder, True))
    except asyncio.CancelledError:
        shutil.rmtree(folder, ignore_errors=True)  # cancelled while removing: finish here, then go on
        raise


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    return " ".join(str(e).split())


__all__ = ["Drill", "DrillResult", "parse_time", "utc_iso"]
