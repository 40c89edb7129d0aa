"""One backup round: a snapshot of each registry, sent to every store at once.

For each registry: learn what each store holds; take the newest verified snapshot as the parent
(its entries are the files cache, its chunk locations the dedup index); read the registry
consistently, cut, hash, compress and seal the new chunks in worker threads while the event loop
packs them and uploads every finished pack to all stores concurrently; back-fill packs a store
missed; extend Object Lock retention of reused packs; then write the signed manifest last, to
every store that holds all of its packs. The snapshot counts when ``quorum`` stores abroad hold it.

A store that fails is set aside for the rest of the round (reported as ``failed: ...``) and is
back-filled by a later round. Nothing half-written is ever visible as a snapshot: a manifest is
written to a store only after every pack it names is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from keys import Keyring
from replication.backfill import backfill, copy_verified
from replication.cache import LocalCache
from replication.catalog import Catalog, SnapshotRef
from replication.chunking import batches, cdc_seed, cut_whole
from replication.crypto import chunk_id, object_id, seal_blob_parts, seal_group_parts
from replication.errors import IntegrityError, ReplicationError, StoreError
from replication.gather import SLACK, PackUse, packs_to_gather
from replication.inventory import Inventory, RegistryInventory
from replication.journal import PackJournal
from replication.layout import pack_key
from replication.locks import DEFAULT_TTL, LockAuth, LockSet, acquire
from replication.manifest import RECORD, Entry, Manifest, PackRef, SnapshotHeader, encode_snapshot
from replication.pack import TARGET_SIZE, FinishedPack, PackWriter
from replication.progress import NoProgress, Progress
from replication.readers import (
    ChangedWhileReadingError,
    ChangeTracked,
    CountsRows,
    RegistryReader,
    ScanItem,
    make_reader,
)
from replication.readers.sqlite import remove_stale_copies
from replication.readers.sqlite_wal import content_digest
from replication.repository import ensure_repository
from replication.retention import RetentionMemory, lock_until, retain_until
from replication.spec import RegistrySpec
from replication.stores import Store

T = TypeVar("T")
SMALL_FILE = 2 << 20  # read, cut and sealed in one worker job
# Consecutive new blocks of a database are sealed this many to a blob (crypto.seal_group_parts):
# 64 x 16 KiB decode in two thirds of the time of 64 blobs and store ~9 % smaller. A later
# snapshot that needs one block of a group decodes the whole group (1 MiB): bounded.
GROUP_CHUNKS = 64


def _done(value: T) -> asyncio.Future[T]:
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def utc_time() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class BackupOptions:
    reread: bool = False  # ignore the files cache: read every file again
    pack_size: int = TARGET_SIZE
    cpu_workers: int = max(2, os.cpu_count() or 2)
    batch_bytes: int = 4 << 20
    # Memory: batches read but not yet packed (over all files) and packs being uploaded. Measured
    # on 1 GiB: 4 / 2 / 3 peaks near 170 MiB at the same speed as 6 / 4 / 4 (near 215 MiB).
    inflight_batches: int = 4
    parallel_files: int = 2
    inflight_packs: int = 3
    read_attempts: int = 3
    lock_wait: timedelta = timedelta(minutes=10)  # how long to wait for a prune holding a store
    lock_ttl: timedelta = DEFAULT_TTL


@dataclass
class RegistryResult:
    registry: str
    id: str | None = None
    time: str | None = None
    files: int = 0
    bytes: int = 0
    new_bytes: int = 0
    stored_bytes: int = 0
    quorum_met: bool = False
    stores: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    reused_files: int = 0
    backfilled_packs: int = 0
    resumed_packs: int = 0  # sent by a run that was stopped before its manifest, found and reused
    backfilled_snapshots: int = 0  # older snapshots a store had missed, copied to it (backfill.py)
    read_bytes: int = 0  # read from the registry (a tracked database: only its changed blocks)
    gathered_packs: int = 0  # the parent's least-used packs whose chunks this snapshot packed again
    gathered_bytes: int = 0  # ... and those chunks' bytes (not counted in new_bytes)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "registry": self.registry,
            "id": self.id,
            "time": self.time,
            "files": self.files,
            "bytes": self.bytes,
            "new_bytes": self.new_bytes,
            "stored_bytes": self.stored_bytes,
            "quorum_met": self.quorum_met,
            "stores": self.stores,
            "reused_files": self.reused_files,
            "backfilled_packs": self.backfilled_packs,
            "resumed_packs": self.resumed_packs,
            "backfilled_snapshots": self.backfilled_snapshots,
            "read_bytes": self.read_bytes,
            "gathered_packs": self.gathered_packs,
            "gathered_bytes": self.gathered_bytes,
        }
        if self.warnings:
            doc["warnings"] = self.warnings
        if self.error:
            doc["error"] = self.error
        return doc


class _Pack:
    """A pack a chunk lives in: known by id, or still being filled (id set when finished)."""

    __slots__ = ("id", "key_id", "size")

    def __init__(self, pack_id: str | None = None, size: int = 0, key_id: str = "") -> None:
        self.id = pack_id
        self.size = size
        self.key_id = key_id


# A sealed blob in its two parts (see crypto.seal_blob_parts)
Sealed = tuple[bytes, bytes]
# A chunk and where it lives: (chunk id, pack, offset, stored length, raw length, start in its group)
Loc = tuple[bytes, _Pack, int, int, int, int]


class _Group:
    """Consecutive new chunks sealed as one blob; placed in a pack when its first member is added."""

    __slots__ = ("members", "placed", "sealed")

    def __init__(self, members: list[tuple[bytes, int]], sealed: Sealed) -> None:
        self.members = members  # (chunk id, raw length), in order
        self.sealed = sealed
        self.placed: tuple[_Pack, int, int] | None = None  # pack, offset, stored length


class _Member:
    __slots__ = ("group", "start")

    def __init__(self, group: _Group, start: int) -> None:
        self.group = group
        self.start = start


# What a worker made of a chunk: a blob of its own, a place in a group, or nothing (known already)
Processed = tuple[bytes, int, Sealed | _Member | None]


class _Held:
    """A run of a tracked database's blocks the parent snapshot holds unchanged: never read."""

    __slots__ = ("ids", "nbytes")

    def __init__(self, ids: list[bytes], nbytes: int) -> None:
        self.ids = ids
        self.nbytes = nbytes


def _block_ids(entry: Entry, block: int) -> list[tuple[bytes, int]] | None:
    """The parent entry's (block id, length) in file order when it was cut into ``block``-sized
    blocks (every one but the last that long, adding up to its size); None otherwise."""
    ids = [(cid, raw) for cid, _p, _o, _l, raw, _s in RECORD.iter_unpack(entry.chunks)]
    if any(raw != block for _, raw in ids[:-1]) or sum(raw for _, raw in ids) != entry.size:
        return None
    return ids


@dataclass
class _StoreSlot:
    store: Store
    counts: bool
    retention: RetentionMemory
    error: str | None = None  # set aside for the rest of the round


class BackupRound:
    """Back up registries to stores. One instance per round; not reentrant."""

    def __init__(
        self,
        ring: Keyring,
        stores: list[Store],
        counts: Callable[[Store], bool],
        quorum: int,
        cache_dir: Path,
        scratch: Path,
        progress: Progress | None = None,
        options: BackupOptions | None = None,
        readers: Callable[[RegistrySpec, Path], RegistryReader] = make_reader,
    ) -> None:
        """``readers`` makes each registry's reader (by its kind); a caller may bring its own kinds."""
        self.ring = ring
        self.readers = readers
        self.quorum = quorum
        self.cache_dir = cache_dir
        self.scratch = scratch
        self.progress = progress or NoProgress()
        self.options = options or BackupOptions()
        self.cache = LocalCache(cache_dir)
        self.slots = [_StoreSlot(s, counts(s), RetentionMemory(self.cache.retention(s.name))) for s in stores]
        self._cpu = ThreadPoolExecutor(self.options.cpu_workers, thread_name_prefix="backup-cpu")
        self._io = ThreadPoolExecutor(self.options.parallel_files, thread_name_prefix="backup-read")
        self._prepared = False
        self.removed_scratch: list[str] = []
        # Shared locks in every store written to: a prune (exclusive) never runs there meanwhile.
        self.locks = LockSet(self.options.lock_ttl)

    async def _cpu_run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._cpu, fn, *args)

    async def _io_run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def alive(self) -> list[_StoreSlot]:
        return [s for s in self.slots if s.error is None]

    def _fail(self, slot: _StoreSlot, error: BaseException | str) -> None:
        if slot.error is None:
            slot.error = str(error)

    def set_aside(self, store: str, reason: str) -> None:
        """Leave ``store`` out of this round from the start (the caller knows it is down), so that
        it costs the others nothing, not even one deadline; it is reported as failed."""
        for slot in self.slots:
            if slot.store.name == store:
                self._fail(slot, f"store {store}: set aside ({reason.removeprefix(f'store {store}: ')})")

    async def prepare(self) -> None:
        """Every store: reachable, a repository of this master key, holding the current key bundle."""

        async def one(slot: _StoreSlot) -> None:
            try:
                await ensure_repository(slot.store, self.ring)
            except (StoreError, IntegrityError) as e:
                self._fail(slot, e)

        await asyncio.gather(*(one(s) for s in self.alive()))
        alive = [s.store for s in self.alive()]
        self.locks, busy = await acquire(
            alive, "backup", self.options.lock_wait, self.options.lock_ttl, auth=LockAuth.for_ring(self.ring)
        )
        for slot in self.slots:
            if slot.store.name in busy:
                self._fail(slot, busy[slot.store.name])
        # What the stores hold, verified, listed once per registry for the whole round.
        self.inventory = Inventory(self.ring, [s.store for s in self.alive()], self.cache)
        self._prepared = True

    async def run(self, registries: list[RegistrySpec]) -> list[RegistryResult]:
        try:
            # Database copies a killed run left in the scratch folder (those no live run holds).
            self.removed_scratch = await asyncio.to_thread(remove_stale_copies, self.scratch)
            if not self._prepared:
                await self.prepare()
            results = []
            for spec in registries:
                results.append(await self.backup_registry(spec))
            return results
        finally:
            await self.locks.release()
            for slot in self.slots:
                slot.retention.save()
            self._cpu.shutdown(wait=False, cancel_futures=True)
            self._io.shutdown(wait=False, cancel_futures=True)

    async def backup_registry(self, spec: RegistrySpec) -> RegistryResult:
        result = RegistryResult(spec.name)
        try:
            await _RegistryBackup(self, spec, result).run()
        except ReplicationError as e:  # unreadable registry, integrity, no store: that registry fails
            result.error = str(e)
        for slot in self.slots:
            if slot.store.name not in result.stores:
                result.stores[slot.store.name] = f"failed: {slot.error}" if slot.error else "failed: not written"
        return result


class _RegistryBackup:
    def __init__(self, round_: BackupRound, spec: RegistrySpec, result: RegistryResult) -> None:
        self.r = round_
        self.spec = spec
        self.result = result
        ring = round_.ring
        self.catalog = Catalog(ring, spec.name)
        self.tag = self.catalog.tag
        self.id_key = ring.id_key(spec.name)
        self.key_id, self.data_key = ring.active_data_key(spec.name)
        self.seed = cdc_seed(self.id_key)
        self.known: dict[bytes, Loc] = {}
        self.gathered: set[bytes] = set()  # chunks of gathered packs: packed again, not new data
        self.packs_by_id: dict[str, _Pack] = {}
        self.has: dict[str, set[str]] = {}  # store -> pack ids it holds (listed + uploaded)
        self.writer: PackWriter | None = None
        self.current: _Pack | None = None
        self.uploads: list[asyncio.Task[None]] = []
        self.pack_slots = asyncio.Semaphore(round_.options.inflight_packs)
        self.batch_slots = asyncio.Semaphore(round_.options.inflight_batches)
        self.pack_lock = asyncio.Lock()  # one task at a time fills and seals the current pack
        self.new_pack_bytes = 0
        self.journal = PackJournal(round_.cache.journal(self.tag))

    # -- what the stores hold ----------------------------------------------------------------------

    async def survey(self) -> RegistryInventory:
        """What every live store holds of this registry (from the round's inventory): the packs each
        currently shows, and the snapshots that verify."""
        inv = await self.r.inventory.registry(self.spec.name, complete=False)
        for slot in self.r.alive():
            if slot.store.name in inv.unlisted:
                self.r._fail(slot, inv.unlisted[slot.store.name])
            elif slot.store.name in inv.listings:
                listing = inv.listings[slot.store.name]
                self.has[slot.store.name] = {
                    p for p, obj in inv.packs(slot.store.name).items() if listing.current(obj.key)
                }
        return inv

    async def parent(self, inv: RegistryInventory) -> tuple[SnapshotRef, Manifest] | None:
        """The newest snapshot that verifies and decrypts (objects that do not verify are never parents)."""
        alive = [s.store.name for s in self.r.alive()]
        async for ref in inv.newest_first():
            if not any(n in alive for n in inv.holders(ref.id)):
                continue
            try:
                manifest, _ = await inv.manifest(ref.id, alive)
                return ref, manifest
            except (IntegrityError, StoreError) as e:
                self.result.warnings.append(f"snapshot {ref.id[:12]} skipped as parent: {e}")
        return None

    def learn(self, manifest: Manifest) -> dict[str, Entry]:
        """Worker thread: index the parent's chunks (only those in packs some live store holds) and its
        files, and gather (below) when it spans too many packs."""
        available = set().union(*self.has.values()) if self.has else set()
        packs: list[_Pack | None] = []
        for ref in manifest.packs:
            if ref.id in available:
                pack = self.packs_by_id.setdefault(ref.id, _Pack(ref.id, ref.size, ref.key_id))
                packs.append(pack)
            else:
                packs.append(None)
        files: dict[str, Entry] = {}
        for entry in manifest.entries:
            if entry.type != "file":
                continue
            complete = True
            for cid, pidx, off, length, raw, start in RECORD.iter_unpack(entry.chunks):
                p = packs[pidx] if pidx < len(packs) else None
                if p is None:
                    complete = False
                    continue
                self.known.setdefault(cid, (cid, p, off, length, raw, start))
            if complete:
                files[entry.path] = entry
        if len(manifest.packs) > 2 + SLACK:
            self.gather()
        return files

    def gather(self) -> None:
        """Forget where the chunks of the parent's least-used packs are (replication/gather.py), so
        this snapshot reads, seals and packs them again as if new."""
        used: dict[str, dict[int, int]] = {}  # pack id -> offset -> stored length (a group once)
        for _cid, pack, off, length, _raw, _start in self.known.values():
            assert pack.id is not None
            used.setdefault(pack.id, {})[off] = length
        chosen = packs_to_gather((PackUse(p, sum(o.values())) for p, o in used.items()), self.r.options.pack_size)
        if not chosen:
            return
        for cid in [cid for cid, loc in self.known.items() if loc[1].id in chosen]:
            del self.known[cid]
            self.gathered.add(cid)
        self.result.gathered_packs = len(chosen)

    def resume(self, inv: RegistryInventory) -> None:
        """Reuse the packs an earlier run sent but named in no manifest (it was stopped first): each
        counts in a store only if that store lists it under its name with the size the journal has."""
        for jp in self.journal.packs():
            if jp.key_id != self.key_id or jp.id in self.packs_by_id:
                continue
            key = pack_key(self.tag, jp.id)
            holders = [
                slot.store.name
                for slot in self.r.alive()
                if (listing := inv.listings.get(slot.store.name)) is not None
                and listing.current(key)
                and jp.size in listing.sizes.get(key, set())
            ]
            if not holders:
                continue
            pack = self.packs_by_id[jp.id] = _Pack(jp.id, jp.size, jp.key_id)
            for name in holders:
                self.has.setdefault(name, set()).add(jp.id)
            for e in jp.entries:
                self.known.setdefault(e.chunk_id, (e.chunk_id, pack, e.offset, e.length, e.raw_len, e.start))
            self.result.resumed_packs += 1

    # -- chunk pipeline ----------------------------------------------------------------------------

    def _process(self, chunks: Sequence[bytes | memoryview]) -> list[Processed]:
        """Worker thread: id every chunk, seal the ones not known yet."""
        out: list[Processed] = []
        known = self.known
        for data in chunks:
            cid = chunk_id(self.id_key, data)
            blob = None if cid in known else seal_blob_parts(self.data_key, cid, data)
            out.append((cid, len(data), blob))
        return out

    def _process_blocks(self, blocks: Sequence[bytes | memoryview]) -> list[Processed]:
        """Worker thread: id every block of a database; seal runs of new ones as groups."""
        out: list[Processed] = []
        known = self.known
        run: list[int] = []  # indexes into out/blocks of new blocks not sealed yet
        seen: set[bytes] = set()

        def seal_run() -> None:
            if len(run) == 1:
                i = run[0]
                out[i] = (out[i][0], out[i][1], seal_blob_parts(self.data_key, out[i][0], blocks[i]))
            elif run:
                group = _Group(
                    [(out[i][0], out[i][1]) for i in run], seal_group_parts(self.data_key, [blocks[i] for i in run])
                )
                start = 0
                for i in run:
                    out[i] = (out[i][0], out[i][1], _Member(group, start))
                    start += out[i][1]
            run.clear()

        for i, data in enumerate(blocks):
            cid = chunk_id(self.id_key, data)
            out.append((cid, len(data), None))
            if cid in known or cid in seen:  # a block seen before (free pages repeat): no blob
                seal_run()
                continue
            seen.add(cid)
            run.append(i)
            if len(run) == GROUP_CHUNKS:
                seal_run()
        seal_run()
        return out

    async def _add(self, cid: bytes, raw_len: int, blob: Sealed | _Member | None) -> Loc:
        async with self.pack_lock:
            return await self._add_locked(cid, raw_len, blob)

    async def _writer(self) -> tuple[PackWriter, _Pack]:
        if self.writer is None:
            await self.pack_slots.acquire()
            self.writer = PackWriter(self.key_id, self.data_key, self.r.options.pack_size)
            self.current = _Pack(key_id=self.key_id)
        assert self.current is not None
        return self.writer, self.current

    async def _add_locked(self, cid: bytes, raw_len: int, blob: Sealed | _Member | None) -> Loc:
        loc = self.known.get(cid)
        if loc is not None:
            return loc
        if blob is None:  # known when processed, so known now: cannot happen
            raise AssertionError("chunk vanished from the index")
        added = False
        if isinstance(blob, _Member):
            group = blob.group
            if group.placed is None:  # its first member: the group goes into the current pack
                writer, pack = await self._writer()
                offset, length = writer.add_group(group.members, group.sealed)
                group.placed = (pack, offset, length)
                added = True
            pack, offset, length = group.placed
            loc = (cid, pack, offset, length, raw_len, blob.start)
        else:
            writer, pack = await self._writer()
            offset = writer.add(cid, blob, raw_len)
            loc = (cid, pack, offset, len(blob[0]) + len(blob[1]), raw_len, 0)
            added = True
        self.known[cid] = loc
        if cid in self.gathered:
            self.result.gathered_bytes += raw_len
        else:
            self.result.new_bytes += raw_len
        if added and self.writer is not None and self.writer.full:
            await self._seal_pack()
        return loc

    async def _seal_pack(self) -> None:
        writer, pack = self.writer, self.current
        self.writer = self.current = None
        assert writer is not None and pack is not None
        finished = await self.r._cpu_run(writer.finish)
        pack.id = finished.id
        pack.size = len(finished.data)
        self.packs_by_id[finished.id] = pack
        self.new_pack_bytes += pack.size
        # Known before it is sent: a run stopped from here on leaves a pack the next run reuses.
        await asyncio.to_thread(self.journal.append, finished.id, pack.size, finished.key_id, finished.entries)
        self.uploads.append(asyncio.create_task(self._upload(finished)))

    async def _upload(self, finished: FinishedPack) -> None:
        key = pack_key(self.tag, finished.id)

        async def one(slot: _StoreSlot) -> None:
            until = retain_until(slot.store.lock_days)
            try:
                await slot.store.put(key, finished.data, until)
            except StoreError as e:
                self.r._fail(slot, e)
                return
            if until is not None:
                slot.retention.set(key, until)
            self.has.setdefault(slot.store.name, set()).add(finished.id)
            self.r.progress.transferred(slot.store.name, len(finished.data))

        try:
            await asyncio.gather(*(one(s) for s in self.r.alive()))
        finally:
            self.pack_slots.release()

    async def read_file(
        self, reader: RegistryReader, item: ScanItem, old: Entry | None = None
    ) -> tuple[ScanItem, list[Loc]] | None:
        """``old``: the parent snapshot's entry of the file (complete), if it has one."""
        for _ in range(self.r.options.read_attempts):
            try:
                return await self._read_once(reader, item, old)
            except ChangedWhileReadingError:
                continue
        self.result.warnings.append(
            f"{item.path}: changed while being read {self.r.options.read_attempts} times; not in this snapshot"
        )
        return None

    def _read_small_job(self, reader: RegistryReader, item: ScanItem) -> tuple[ScanItem, list[Processed], int]:
        """Worker thread: open, read, cut, id and seal a small file in one go (one hop, not five)."""
        with reader.open(item) as (stream, now):
            data = stream.read()
        return now, self._process(cut_whole(data, self.seed)), len(data)

    def _tracked_batches(self, view: ChangeTracked, old: Entry | None, block: int) -> Iterator[list[bytes] | _Held]:
        """Worker thread: a tracked database's blocks in order, batched; when the view's changes
        are relative to the parent's content (``base``), each run of blocks in no changed page
        comes as a _Held of the parent's block ids instead, and is not read."""
        parent = _block_ids(old, block) if old is not None and view.base is not None else None
        if parent is not None and (self.r.options.reread or content_digest(c for c, _ in parent) != view.base):
            parent = None
        changed = view.changed_blocks(block) if parent is not None else set()
        batch: list[bytes] = []
        batched = 0
        held = _Held([], 0)
        for b in range((view.size + block - 1) // block):
            start = b * block
            length = min(block, view.size - start)
            if (
                parent is not None
                and b < len(parent)
                and parent[b][1] == length
                and b not in changed
                and parent[b][0] in self.known  # not in a gathered pack
            ):
                if batch:
                    yield batch
                    batch, batched = [], 0
                held.ids.append(parent[b][0])
                held.nbytes += length
                continue
            if held.ids:
                yield held
                held = _Held([], 0)
            batch.append(view.read_range(start, length))
            batched += length
            if batched >= self.r.options.batch_bytes:
                yield batch
                batch, batched = [], 0
        if batch:
            yield batch
        if held.ids:
            yield held

    async def _read_small(self, reader: RegistryReader, item: ScanItem) -> tuple[ScanItem, list[Loc]]:
        await self.batch_slots.acquire()
        try:
            now, processed, total = await self.r._cpu_run(self._read_small_job, reader, item)
            locs = [await self._add(cid, raw_len, blob) for cid, raw_len, blob in processed]
        finally:
            self.batch_slots.release()
        self.r.progress.advance(total)
        self.result.read_bytes += total
        return ScanItem(now.path, "file", now.mode, now.mtime_ns, total, cache=now.cache), locs

    async def _read_once(self, reader: RegistryReader, item: ScanItem, old: Entry | None) -> tuple[ScanItem, list[Loc]]:
        if reader.chunking.method == "cdc" and item.cache is not None and item.size <= SMALL_FILE:
            return await self._read_small(reader, item)
        cm: AbstractContextManager[tuple[BinaryIO, ScanItem]] = reader.open(item)
        stream, now = await self.r._io_run(cm.__enter__)
        locs: list[Loc] = []
        total = 0
        try:
            tracked = stream if isinstance(stream, ChangeTracked) else None
            gen: Iterator[list[bytes] | _Held]
            if tracked is not None:
                gen = self._tracked_batches(tracked, old, reader.chunking.size)
            else:
                gen = batches(stream, reader.chunking, self.seed, self.r.options.batch_bytes)
            pending: deque[asyncio.Future[list[Processed] | _Held]] = deque()
            process = self._process_blocks if reader.chunking.method == "fixed" else self._process

            async def drain_one() -> None:
                nonlocal total
                try:
                    done = await pending.popleft()
                    if isinstance(done, _Held):  # the parent's blocks: where they are is known
                        locs.extend(self.known[cid] for cid in done.ids)
                        total += done.nbytes
                        return
                    for cid, raw_len, blob in done:
                        locs.append(await self._add(cid, raw_len, blob))
                        total += raw_len
                finally:
                    self.batch_slots.release()

            try:
                while True:
                    # Never wait for a slot while holding one: drain our own oldest batch instead.
                    while pending and (pending[0].done() or self.batch_slots.locked() or len(pending) >= 3):
                        await drain_one()
                    await self.batch_slots.acquire()
                    batch = await self.r._io_run(next, gen, None)
                    if batch is None:
                        self.batch_slots.release()
                        break
                    if isinstance(batch, _Held):
                        self.r.progress.advance(batch.nbytes)
                        pending.append(_done(batch))
                        continue
                    read = sum(len(c) for c in batch)
                    self.r.progress.advance(read)
                    self.result.read_bytes += read
                    pending.append(asyncio.ensure_future(self.r._cpu_run(process, batch)))
                while pending:
                    await drain_one()
            finally:
                for fut in pending:  # after a failure: let the workers finish, free the slots
                    with contextlib.suppress(BaseException):
                        await fut
                    self.batch_slots.release()
            if tracked is not None:  # the next round's changes are relative to this content
                digest = await self.r._io_run(content_digest, [loc[0] for loc in locs])
                tracked.taken(digest)
        except BaseException as e:
            await self.r._io_run(cm.__exit__, type(e), e, e.__traceback__)
            raise
        await self.r._io_run(cm.__exit__, None, None, None)
        if now.size != total and reader.chunking.method == "cdc" and now.cache is not None:
            raise ChangedWhileReadingError(f"{item.path}: size changed while being read")
        return ScanItem(now.path, "file", now.mode, now.mtime_ns, total, cache=now.cache), locs

    # -- the snapshot ------------------------------------------------------------------------------

    async def run(self) -> None:
        spec, result, r = self.spec, self.result, self.r
        started = utc_time()
        if not r.alive():
            raise StoreError("-", "no store is reachable: " + "; ".join(f"{s.store.name}: {s.error}" for s in r.slots))
        inv = await self.survey()
        parent = await self.parent(inv)
        old_files: dict[str, Entry] = {}
        if parent is not None:
            old_files = await self.r._cpu_run(self.learn, parent[1])  # 65,536 records at 1 GiB: off the loop
        self.resume(inv)
        reader = r.readers(spec, r.scratch)
        try:
            items = await r._io_run(reader.scan)
            streamed = spec.kind in ("command", "postgres")  # a dump's size is known once it has ended
            total = None if streamed else sum(i.size for i in items if i.type == "file")
            r.progress.start(spec.name, total, sum(1 for i in items if i.type == "file"))
            slots: list[tuple[ScanItem, list[Loc]] | None] = [None] * len(items)
            files = asyncio.Semaphore(r.options.parallel_files)

            async def read(i: int, item: ScanItem) -> None:
                async with files:
                    slots[i] = await self.read_file(reader, item, old_files.get(item.path))
                r.progress.advance(0, 1)

            tasks = []
            for i, item in enumerate(items):
                if item.type != "file":
                    slots[i] = (item, [])
                    continue
                old = old_files.get(item.path)
                if (
                    not r.options.reread
                    and old is not None
                    and item.cache is not None
                    and old.cache == item.cache
                    and (not self.gathered or all(cid in self.known for cid, *_ in RECORD.iter_unpack(old.chunks)))
                ):
                    # The size is the reused chunks' (the parent's entry), not the scan's: a SQLite
                    # database read through a copy is as long as its pages, WAL included, which
                    # the file on disk may not be yet.
                    item = ScanItem(item.path, "file", item.mode, item.mtime_ns, old.size, cache=item.cache)
                    slots[i] = (item, [self.known[cid] for cid, *_ in RECORD.iter_unpack(old.chunks)])
                    result.reused_files += 1
                    r.progress.advance(item.size, 1)
                    continue
                tasks.append(asyncio.ensure_future(read(i, item)))
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            done = [s for s in slots if s is not None]
            row_counts = reader.row_counts() if isinstance(reader, CountsRows) else None
        finally:
            await r._io_run(reader.close)
        if self.writer is not None and len(self.writer):
            await self._seal_pack()
        elif self.writer is not None:
            self.writer = None
            self.pack_slots.release()
        await asyncio.gather(*self.uploads)
        r.progress.finish()
        manifest = self._manifest(spec, started, parent[0].id if parent else None, done)
        manifest.row_counts = row_counts
        await self._complete_stores(manifest)
        await self._write_manifest(manifest)
        await self._backfill_snapshots(inv)

    def _manifest(
        self, spec: RegistrySpec, time: str, previous: str | None, done: list[tuple[ScanItem, list[Loc]]]
    ) -> Manifest:
        index: dict[str, int] = {}
        packs: list[PackRef] = []
        entries: list[Entry] = []
        for item, locs in done:
            if item.type != "file":
                entries.append(Entry(item.path, item.type, item.mode, item.mtime_ns, target=item.target))
                continue
            records = bytearray()
            for cid, pack, off, length, raw, start in locs:
                assert pack.id is not None
                pidx = index.get(pack.id)
                if pidx is None:
                    pidx = index[pack.id] = len(packs)
                    packs.append(PackRef(pack.id, pack.size, pack.key_id))
                records += RECORD.pack(cid, pidx, off, length, raw, start)
            entries.append(
                Entry(item.path, "file", item.mode, item.mtime_ns, item.size, bytes(records), cache=item.cache)
            )
        files = sum(1 for e in entries if e.type == "file")
        size = sum(e.size for e in entries)
        self.result.files, self.result.bytes = files, size
        stats = {
            "files": files,
            "bytes": size,
            "new_bytes": self.result.new_bytes,
            "new_pack_bytes": self.new_pack_bytes,
            "reused_files": self.result.reused_files,
        }
        return Manifest(
            spec.name,
            spec.kind,
            time,
            previous,
            socket.gethostname(),
            packs,
            entries,
            stats,
            list(self.result.warnings),
        )

    async def _complete_stores(self, manifest: Manifest) -> None:
        """Back-fill packs a store lacks (from a store that has them) and extend reused packs' locks."""
        needed = {p.id for p in manifest.packs}
        now = datetime.now(UTC)

        async def one(slot: _StoreSlot) -> None:
            store = slot.store
            have = self.has.get(store.name, set())
            try:
                for pack_id in sorted(needed - have):
                    await self._copy_pack(pack_id, slot)
                    self.result.backfilled_packs += 1
                if store.lock_days:
                    await self._extend_locks(slot, needed, now)
            except (StoreError, IntegrityError) as e:
                self.r._fail(slot, e)

        await asyncio.gather(*(one(s) for s in self.r.alive()))

    async def _copy_pack(self, pack_id: str, dest: _StoreSlot) -> bool:
        """Copy a pack ``dest`` lacks from a live store that holds it; False when it held it already."""
        if pack_id in self.has.get(dest.store.name, set()):
            return False
        sources = [s.store for s in self.r.alive() if pack_id in self.has.get(s.store.name, set())]
        await copy_verified(pack_key(self.tag, pack_id), pack_id, dest.store, sources, dest.retention)
        self.has.setdefault(dest.store.name, set()).add(pack_id)
        return True

    async def _backfill_snapshots(self, inv: RegistryInventory) -> None:
        """Every snapshot a live store missed, copied to it from the others (replication/backfill.py)."""
        live = [s.store for s in self.r.alive()]

        async def one(slot: _StoreSlot) -> None:
            async def copy_pack(pack_id: str) -> None:
                if await self._copy_pack(pack_id, slot):
                    self.result.backfilled_packs += 1

            try:
                self.r.locks.ensure_held(slot.store.name)
                copied = await backfill(inv, slot.store, live, copy_pack, slot.retention)
                self.result.backfilled_snapshots += copied  # not `+= await`: the stores run side by side
            except (StoreError, IntegrityError) as e:
                self.result.warnings.append(
                    f"back-fill of store {slot.store.name} stopped (the next round goes on): {e}"
                )
                self.r._fail(slot, e)

        await asyncio.gather(*(one(s) for s in self.r.alive()))

    async def _extend_locks(self, slot: _StoreSlot, needed: set[str], now: datetime) -> None:
        store = slot.store
        want = lock_until(store.lock_days, now)
        minimum = now + timedelta(days=store.lock_days)  # what the new snapshot is locked for

        async def one(pack_id: str) -> None:
            key = pack_key(self.tag, pack_id)
            until = slot.retention.get(key)
            if until is None:
                until = await store.retention(key)
                if until is not None:
                    slot.retention.set(key, until)
            if until is None or until < minimum:
                await store.set_retention(key, want)
                slot.retention.set(key, want)

        await asyncio.gather(*(one(p) for p in sorted(needed)))

    async def _write_manifest(self, manifest: Manifest) -> None:
        ring = self.r.ring
        header = SnapshotHeader(self.tag, manifest.time, ring.signing.id, self.key_id)
        data = await self.r._cpu_run(encode_snapshot, manifest, header, self.data_key, ring.signing_key())
        sid = object_id(data)
        key = self.catalog.key_for(manifest.time, sid)
        needed = {p.id for p in manifest.packs}
        written: list[_StoreSlot] = []

        async def one(slot: _StoreSlot) -> None:
            if not needed <= self.has.get(slot.store.name, set()):
                self.r._fail(slot, "does not hold every pack of the snapshot")
                return
            until = retain_until(slot.store.lock_days)
            try:
                self.r.locks.ensure_held(slot.store.name)  # a lapsed lock: a prune may have run
                await slot.store.put(key, data, until)
            except StoreError as e:
                self.r._fail(slot, e)
                return
            written.append(slot)

        await asyncio.gather(*(one(s) for s in self.r.alive()))
        await asyncio.to_thread(self.r.cache.remember_manifest, sid, data)  # fsync: off the loop
        if written:  # its packs are named by a snapshot now (or unreferenced, for prune)
            await asyncio.to_thread(self.journal.clear)
        res = self.result
        res.id, res.time = sid, manifest.time
        res.stored_bytes = self.new_pack_bytes + len(data)
        for slot in written:
            res.stores[slot.store.name] = "ok"
        res.quorum_met = sum(1 for s in written if s.counts) >= self.r.quorum
