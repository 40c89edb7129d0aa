"""Restoring a snapshot (or one path of it) into a target folder.

The manifest is trusted only once verified (catalog.py). Its paths are checked before anything is
written, so a hostile manifest cannot place a file outside the target or beneath one of its own
symlinks. Packs are read in parallel, with ranged reads when only part of a pack is needed; each
blob's AEAD tag, length and keyed chunk id are checked before its bytes are written with pwrite at
their offset, so large files fill in parallel. A pack a store cannot give intact is read from the
next store. File modes and times are restored; symlinks are created last; folders' times last of all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from keys import Keyring
from replication.cache import LocalCache
from replication.catalog import SnapshotRef
from replication.crypto import open_chunks
from replication.errors import (
    IntegrityError,
    RestoreTargetError,
    SnapshotNotFoundError,
    StoreError,
)
from replication.fetch import fetch_verified
from replication.inventory import Inventory, RegistryInventory
from replication.layout import pack_key
from replication.manifest import RECORD, Entry, Manifest
from replication.progress import NoProgress, Progress
from replication.safe_tree import SafeTree, check_relative
from replication.slots import PackSlots
from replication.stores import Store

T = TypeVar("T")
# Read the whole pack when at least this share of it is needed, else ranged reads.
WHOLE_PACK_SHARE = 0.6
RANGE_GAP = 256 << 10
FILE_WORKERS = 8
# The files of this many of a restore's biggest packs (which go first) are created before the rest.
EARLY_PACKS = 6


@dataclass
class RestoreResult:
    registry: str
    id: str
    files: int
    bytes: int
    target: str
    seconds: float
    store: str
    chain: str = "ok"
    warnings: list[str] = field(default_factory=list)
    setid_cleared: int = 0  # entries whose setuid/setgid bits were not restored (see restored_mode)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "registry": self.registry,
            "id": self.id,
            "files": self.files,
            "bytes": self.bytes,
            "target": self.target,
            "seconds": round(self.seconds, 3),
            "store": self.store,
            "chain": self.chain,
            "setid_cleared": self.setid_cleared,
        }
        if self.warnings:
            doc["warnings"] = self.warnings
        return doc


@dataclass(frozen=True, slots=True)
class Found:
    """A verified snapshot and the stores holding it verified; ``warnings`` name the stores whose
    objects did not verify on the way."""

    ref: SnapshotRef
    holders: list[str]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Loaded:
    """A snapshot ready to restore: its verified manifest, the store it came from, its chain's state."""

    ref: SnapshotRef
    manifest: Manifest
    source: str
    chain: str
    warnings: tuple[str, ...] = ()


async def find_snapshot(inv: RegistryInventory, selector: str) -> Found:
    """The snapshot ``selector`` names (id, unique id prefix, or 'latest': the newest that verifies).

    Raises SnapshotNotFoundError when no store lists such a snapshot, IntegrityError when some store
    lists it but no copy of it verifies."""
    listed = inv.listed_ids()
    if not listed and not inv.findings:
        detail = f" ({'; '.join(str(e) for e in inv.unlisted.values())})" if inv.unlisted else ""
        raise SnapshotNotFoundError(f"registry {inv.registry} has no snapshots in the stores{detail}")
    ref: SnapshotRef | None
    if selector == "latest":
        ref = await inv.latest()
    else:
        wanted = sorted(sid for sid in listed if sid.startswith(selector.lower()))
        await inv.settle(wanted)
        refs = inv.refs
        candidates = [refs[sid] for sid in wanted if sid in refs]
        if len(candidates) > 1:
            raise SnapshotNotFoundError(
                f"snapshot prefix {selector!r} is ambiguous ({len(candidates)} snapshots); give more digits"
            )
        ref = candidates[0] if candidates else None
    if ref is None:
        untrusted = [
            f for f in inv.findings if selector == "latest" or f.key.rsplit("_", 1)[-1].startswith(selector.lower())
        ]
        if untrusted:
            what = "no snapshot" if selector == "latest" else f"no copy of snapshot {selector!r}"
            raise IntegrityError(
                f"registry {inv.registry}: {what} in the stores verifies: {untrusted[0].line()}"
                + (f" (and {len(untrusted) - 1} more)" if len(untrusted) > 1 else "")
            )
        raise SnapshotNotFoundError(f"registry {inv.registry} has no snapshot {selector!r}")
    return Found(ref, inv.holders(ref.id), tuple(inv.warnings()))


def select_entries(manifest: Manifest, path: str | None) -> list[Entry]:
    """The manifest's entries (under ``path`` if given), after checking every path is safe."""
    kinds: dict[str, str] = {}
    for e in manifest.entries:
        check_relative(e.path)
        if e.path in kinds:
            raise IntegrityError(f"manifest lists {e.path!r} twice; refusing to restore")
        kinds[e.path] = e.type
    for e in manifest.entries:
        parts = e.path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if kinds.get(parent, "dir") != "dir":
                raise IntegrityError(
                    f"manifest entry {e.path!r} lies beneath {parent!r}, which is a "
                    f"{kinds[parent]}; refusing to restore"
                )
    if path is None:
        return list(manifest.entries)
    wanted = path.strip("/")
    check_relative(wanted)
    chosen = [e for e in manifest.entries if e.path == wanted or e.path.startswith(wanted + "/")]
    if not chosen:
        raise SnapshotNotFoundError(f"snapshot has no path {path!r}")
    return chosen


@dataclass
class _Chunk:
    start: int  # in its group's decoded bytes (0 for a blob of its own)
    raw_len: int
    chunk_id: bytes
    writes: list[tuple[int, int]]  # (file index, offset in file)


@dataclass
class _Blob:
    offset: int
    length: int
    chunks: dict[int, _Chunk]  # by start: one for a blob of its own, those wanted of a group


@dataclass
class _PackPlan:
    blobs: list[_Blob]  # by offset in the pack
    raw: int  # bytes it writes


def _plan(manifest: Manifest, files: list[Entry]) -> dict[int, _PackPlan]:
    """What each pack the files need gives, and where it goes."""
    by_pack: dict[int, dict[int, _Blob]] = defaultdict(dict)  # pack index -> offset -> blob
    for fi, e in enumerate(files):
        pos = 0
        for cid, pidx, off, length, raw, start in RECORD.iter_unpack(e.chunks):
            if pidx >= len(manifest.packs):
                raise IntegrityError(f"manifest entry {e.path!r} names pack #{pidx}, which it does not list")
            blob = by_pack[pidx].get(off)
            if blob is None:
                blob = by_pack[pidx][off] = _Blob(off, length, {})
            chunk = blob.chunks.get(start)
            if chunk is None:
                chunk = blob.chunks[start] = _Chunk(start, raw, cid, [])
            elif chunk.chunk_id != cid or chunk.raw_len != raw:
                raise IntegrityError(f"manifest entry {e.path!r} places two different chunks at one place")
            chunk.writes.append((fi, pos))
            pos += raw
        if pos != e.size:
            raise IntegrityError(f"manifest entry {e.path!r}: chunks add up to {pos} bytes, size says {e.size}")
    return {
        pidx: _PackPlan(
            sorted(blobs.values(), key=lambda b: b.offset),
            sum(c.raw_len * len(c.writes) for b in blobs.values() for c in b.chunks.values()),
        )
        for pidx, blobs in by_pack.items()
    }


class Restorer:
    def __init__(
        self,
        ring: Keyring,
        registry: str,
        stores: list[Store],
        cache_dir: Path | None = None,
        progress: Progress | None = None,
        parallel_packs: int = 6,
        cpu_workers: int | None = None,
        pack_slots: PackSlots | None = None,
        inventory: Inventory | None = None,
    ) -> None:
        """``pack_slots``: share one bound on packs in flight between restorers that run side by
        side (each pack held is ~8 MiB plus its decoded bytes), so memory stays flat.
        ``inventory``: the run's inventory of ``stores``, shared with other restorers (default: a
        new one over ``stores`` and the cache)."""
        self.ring = ring
        self.registry = registry
        self.stores = stores
        self.inventory = inventory or Inventory(ring, stores, LocalCache(cache_dir))
        self.progress = progress or NoProgress()
        self.pack_slots = pack_slots or PackSlots(parallel_packs)
        self.id_key = ring.id_key(registry)
        self._cpu = ThreadPoolExecutor(cpu_workers or max(2, os.cpu_count() or 2), thread_name_prefix="restore")

    async def _cpu_run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._cpu, fn, *args)

    async def find(self, selector: str) -> Found:
        return await find_snapshot(await self.inventory.registry(self.registry, complete=False, packs=False), selector)

    async def load(self, selector: str | Found) -> Loaded:
        """The snapshot's verified manifest; its chain is checked against the same inventory."""
        found = selector if isinstance(selector, Found) else await self.find(selector)
        ref = found.ref
        inv = await self.inventory.registry(self.registry, complete=False, packs=False)
        manifest, source = await inv.manifest(ref.id, found.holders)
        chain = "ok"
        if manifest.previous:
            await inv.settle([manifest.previous])  # a name alone proves nothing: its copies are checked
            prev = inv.refs.get(manifest.previous)
            if prev is None:
                # Pruned on purpose? Then a forget record signed by the mission names it.
                forgotten = (await inv.forgotten()).snapshots
                if manifest.previous not in forgotten:
                    chain = f"broken: previous snapshot {manifest.previous[:12]} is in no store"
                elif forgotten[manifest.previous] >= ref.key_time:
                    chain = f"broken: previous snapshot {manifest.previous[:12]} is not older"
            elif prev.key_time >= ref.key_time:
                chain = f"broken: previous snapshot {manifest.previous[:12]} is not older"
        return Loaded(ref, manifest, source, chain, found.warnings)

    async def restore(
        self, selector: str | Loaded, target: Path, path: str | None = None, force: bool = False
    ) -> RestoreResult:
        """Restore the snapshot ``selector`` names (or one already loaded) into ``target``."""
        started = time.monotonic()

        loaded = selector if isinstance(selector, Loaded) else await self.load(selector)
        ref, manifest, source, chain = loaded.ref, loaded.manifest, loaded.source, loaded.chain
        entries = select_entries(manifest, path)
        target.mkdir(parents=True, exist_ok=True)
        if not force and any(target.iterdir()):
            raise RestoreTargetError(f"target {target} is not empty; pass --force to restore into it anyway")
        _raise_fd_limit()
        tree = SafeTree(str(target), force)
        try:
            files = [e for e in entries if e.type == "file"]
            self.progress.start(f"restore {self.registry}", sum(e.size for e in files), len(files))
            fds: list[int] = [-1] * len(files)
            try:
                plan = _plan(manifest, files)
                # Packs start arriving while the files are created (thousands of small files take
                # a while). The files of the packs that go first are created first, so those
                # packs need not wait for the whole tree.
                first = set(sorted(plan, key=lambda p: plan[p].raw, reverse=True)[:EARLY_PACKS])
                early = sorted(
                    {fi for p in first for b in plan[p].blobs for c in b.chunks.values() for fi, _ in c.writes}
                )
                late = sorted(set(range(len(files))) - set(early))
                early_ready, tree_ready = asyncio.Event(), asyncio.Event()

                async def create() -> None:
                    await self._cpu_run(_create_dirs, tree, entries)
                    await self._in_parallel(_create_files, tree, files, fds, early)
                    early_ready.set()
                    await self._in_parallel(_create_files, tree, files, fds, late)
                    tree_ready.set()

                def ready(pidx: int) -> asyncio.Event:
                    return early_ready if pidx in first else tree_ready

                try:
                    async with asyncio.TaskGroup() as group:
                        group.create_task(create())
                        group.create_task(self._fill(manifest, plan, fds, source, ready))
                except BaseExceptionGroup as group_error:  # the first failure is the one to report
                    raise _first_error(group_error) from None
                await self._in_parallel(_finish_files, tree, files, fds, range(len(files)))
                await self._cpu_run(_finish_links_and_dirs, tree, entries)
            finally:
                for fd in fds:
                    if fd >= 0:
                        os.close(fd)
            self.progress.finish()
        finally:
            tree.close()
            self._cpu.shutdown(wait=False, cancel_futures=True)
        return RestoreResult(
            self.registry,
            ref.id,
            len(files),
            sum(e.size for e in files),
            str(target),
            time.monotonic() - started,
            source,
            chain,
            [*loaded.warnings, *manifest.warnings],
            sum(1 for e in entries if e.type in ("file", "dir") and e.mode & SETID),
        )

    async def _in_parallel(
        self,
        fn: Callable[[SafeTree, list[Entry], list[int], Sequence[int]], None],
        tree: SafeTree,
        files: list[Entry],
        fds: list[int],
        which: Sequence[int],
    ) -> None:
        """Per-file metadata work split over worker threads: creating thousands of small files is
        bound by the file system's latency, not the CPU, so several at once go faster."""
        step = max(1, -(-len(which) // FILE_WORKERS))
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(FILE_WORKERS, thread_name_prefix="restore-files") as pool:
            await asyncio.gather(
                *(
                    loop.run_in_executor(pool, fn, tree, files, fds, which[i : i + step])
                    for i in range(0, len(which), step)
                )
            )

    async def _fill(
        self,
        manifest: Manifest,
        plan: dict[int, _PackPlan],
        fds: list[int],
        source: str,
        ready: Callable[[int], asyncio.Event],
    ) -> None:
        order = [s for s in self.stores if s.name == source] + [s for s in self.stores if s.name != source]
        limit = self.pack_slots

        async def one(pidx: int, pack: _PackPlan) -> None:
            async with limit.slot(pack.raw):
                await self._restore_pack(manifest, pidx, pack.blobs, fds, order, ready(pidx))

        await asyncio.gather(*(one(p, pack) for p, pack in plan.items()))

    async def _restore_pack(
        self,
        manifest: Manifest,
        pidx: int,
        blobs: list[_Blob],
        fds: list[int],
        stores: list[Store],
        tree_ready: asyncio.Event,
    ) -> None:
        ref = manifest.packs[pidx]
        key = pack_key(self.inventory.catalog(self.registry).tag, ref.id)
        data_key = self.ring.data_key(self.registry, ref.key_id)
        needed = sum(b.length for b in blobs)
        problems: list[str] = []
        # Per store: the needed ranges (or, when most of the pack is needed, the whole object) as the
        # store gives them - every blob is checked by its AEAD tag and chunk id, which is enough;
        # if that fails (a forged newer version, damage), the pack checked against its id, older
        # versions included; then the next store.
        first = "ranged" if needed < ref.size * WHOLE_PACK_SHARE else "whole"
        for store, how in [(s, mode) for s in stores for mode in (first, "verified")]:
            try:
                if how == "ranged":
                    pieces = await self._ranged(store, key, blobs)
                elif how == "whole":
                    pieces = [(0, await store.get(key, max_bytes=ref.size))]
                else:
                    pieces = [(0, (await fetch_verified(store, key, ref.id, max_bytes=ref.size)).data)]
                self.progress.transferred(store.name, sum(len(p[1]) for p in pieces))

                await tree_ready.wait()
                written = await self._cpu_run(
                    self._write_blobs, pieces, blobs, fds, data_key, f"store {store.name}: {key}"
                )
                self.progress.advance(written)

                return
            except (StoreError, IntegrityError) as e:
                if str(e) not in problems:
                    problems.append(str(e))
        raise IntegrityError(f"pack {ref.id[:12]} could not be read intact from any store: " + "; ".join(problems))

    async def _ranged(self, store: Store, key: str, blobs: list[_Blob]) -> list[tuple[int, bytes]]:
        ranges: list[list[int]] = []
        for b in blobs:
            if ranges and b.offset - ranges[-1][1] <= RANGE_GAP:
                ranges[-1][1] = max(ranges[-1][1], b.offset + b.length)
            else:
                ranges.append([b.offset, b.offset + b.length])
        datas = await asyncio.gather(*(store.get_range(key, s, e - s) for s, e in ranges))
        return [(s, d) for (s, _), d in zip(ranges, datas, strict=True)]

    def _write_blobs(
        self, pieces: list[tuple[int, bytes]], blobs: list[_Blob], fds: list[int], data_key: bytes, what: str
    ) -> int:
        written = 0
        writer = _Coalescer()
        views = [(start, memoryview(data)) for start, data in pieces]
        for b in blobs:
            view = None
            for start, v in views:
                if start <= b.offset and b.offset + b.length <= start + len(v):
                    view = v[b.offset - start : b.offset - start + b.length]
                    break
            if view is None or len(view) != b.length:
                raise IntegrityError(f"{what}: pack is shorter than the manifest says")
            chunks = list(b.chunks.values())
            wanted = [(c.chunk_id, c.start, c.raw_len) for c in chunks]
            plains = open_chunks(data_key, self.id_key, view, wanted, f"{what} at {b.offset}")
            for c, plain in zip(chunks, plains, strict=True):
                for fi, pos in c.writes:
                    writer.add(fds[fi], pos, plain)
                    written += len(plain)
        writer.flush()
        return written


def _first_error(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


class _Coalescer:
    """Consecutive writes to one file at adjacent offsets become one pwritev: a database restores
    as thousands of 16 KiB blocks, mostly in order."""

    LIMIT = 4 << 20

    def __init__(self) -> None:
        self.fd = -1
        self.start = 0
        self.end = 0
        self.bufs: list[bytes | memoryview] = []

    def add(self, fd: int, pos: int, data: bytes | memoryview) -> None:
        if fd != self.fd or pos != self.end or self.end - self.start >= self.LIMIT:
            self.flush()
            self.fd, self.start, self.end = fd, pos, pos
        self.bufs.append(data)
        self.end += len(data)

    def flush(self) -> None:
        pos, bufs = self.start, self.bufs
        while bufs:
            done = os.pwritev(self.fd, bufs[:1024], pos)  # IOV_MAX
            pos += done
            while bufs and done >= len(bufs[0]):
                done -= len(bufs[0])
                bufs = bufs[1:]
            if done:  # a short write inside a buffer
                bufs[0] = bufs[0][done:]
        self.bufs = []
        self.fd = -1


def _create_dirs(tree: SafeTree, entries: list[Entry]) -> None:
    """Every folder, listed or implied by a file's path, before files are created in parallel."""
    for e in sorted((e for e in entries if e.type == "dir"), key=lambda e: e.path):
        tree.dir_fd(e.path)
    for parent in sorted({e.path.rpartition("/")[0] for e in entries if e.type != "dir"}):
        tree.dir_fd(parent)


def _create_files(tree: SafeTree, files: list[Entry], fds: list[int], which: Sequence[int]) -> None:
    """Worker thread: files created empty (the writes that fill them set their size); each fd stored
    as soon as it is open, so the caller closes every one even if this fails half-way."""
    for i in which:
        fds[i] = tree.create_file(files[i].path)


# setuid and setgid grant the file owner's (or group's) rights to whoever runs it: they may come back
# only together with the original owner. Manifests record no owner (a restored entry belongs to
# whoever restores it, root included), so these bits are always cleared, and counted.
SETID = stat.S_ISUID | stat.S_ISGID


def restored_mode(mode: int) -> int:
    return mode & 0o7777 & ~SETID


def _finish_files(tree: SafeTree, files: list[Entry], fds: list[int], which: Sequence[int]) -> None:
    for i in which:
        os.fchmod(fds[i], restored_mode(files[i].mode))
        os.utime(fds[i], ns=(files[i].mtime_ns, files[i].mtime_ns))


def _finish_links_and_dirs(tree: SafeTree, entries: list[Entry]) -> None:
    """Symlinks last of the contents (nothing is written after them), then folders deepest first."""
    for e in entries:
        if e.type == "symlink":
            tree.symlink(e.path, e.target, e.mtime_ns)
    for e in sorted((e for e in entries if e.type == "dir"), key=lambda e: e.path.count("/"), reverse=True):
        tree.finish_dir(e.path, restored_mode(e.mode), e.mtime_ns)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


__all__ = ["Found", "Loaded", "RestoreResult", "Restorer", "SnapshotNotFoundError", "find_snapshot"]
