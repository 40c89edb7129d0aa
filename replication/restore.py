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
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from keys import Keyring
from replication.catalog import Catalog, SnapshotRef
from replication.crypto import open_blob
from replication.errors import (
    IntegrityError,
    ObjectNotFoundError,
    ReplicationError,
    RestoreTargetError,
    StoreError,
)
from replication.fetch import fetch_verified
from replication.forget import load_forgotten
from replication.layout import pack_key
from replication.manifest import RECORD, Entry, Manifest
from replication.progress import NoProgress, Progress
from replication.safe_tree import SafeTree, check_relative
from replication.stores import Store

T = TypeVar("T")
# Read the whole pack when at least this share of it is needed, else ranged reads.
WHOLE_PACK_SHARE = 0.6
RANGE_GAP = 256 << 10


class SnapshotNotFoundError(ReplicationError):
    """No snapshot matches the given id, prefix or 'latest'."""


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
        }
        if self.warnings:
            doc["warnings"] = self.warnings
        return doc


async def find_snapshot(catalog: Catalog, stores: list[Store], selector: str) -> tuple[SnapshotRef, list[str]]:
    """The snapshot ``selector`` names (id, unique id prefix, or 'latest') and the stores listing it."""
    listed: dict[str, tuple[SnapshotRef, list[str]]] = {}
    errors = []
    for store in stores:
        try:
            refs = await catalog.snapshots(store)
        except StoreError as e:
            errors.append(str(e))
            continue
        for ref in refs:
            listed.setdefault(ref.id, (ref, []))[1].append(store.name)
    if not listed:
        detail = f" ({'; '.join(errors)})" if errors else ""
        raise SnapshotNotFoundError(f"registry {catalog.registry} has no snapshots in the stores{detail}")
    if selector == "latest":
        return max(listed.values(), key=lambda v: (v[0].key_time, v[0].id))
    matches = [v for sid, v in listed.items() if sid.startswith(selector.lower())]
    if not matches:
        raise SnapshotNotFoundError(f"registry {catalog.registry} has no snapshot {selector!r}")
    if len(matches) > 1:
        raise SnapshotNotFoundError(
            f"snapshot prefix {selector!r} is ambiguous ({len(matches)} snapshots); give more digits"
        )
    return matches[0]


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
class _Blob:
    offset: int
    length: int
    raw_len: int
    chunk_id: bytes
    writes: list[tuple[int, int]]  # (file index, offset in file)


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
    ) -> None:
        self.ring = ring
        self.registry = registry
        self.stores = stores
        self.catalog = Catalog(ring, registry, cache_dir)
        self.progress = progress or NoProgress()
        self.parallel = parallel_packs
        self.id_key = ring.id_key(registry)
        self._cpu = ThreadPoolExecutor(cpu_workers or max(2, os.cpu_count() or 2), thread_name_prefix="restore")

    async def _cpu_run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._cpu, fn, *args)

    async def load(self, selector: str) -> tuple[SnapshotRef, Manifest, str, str]:
        """(ref, verified manifest, store it came from, chain status)."""
        ref, holders = await find_snapshot(self.catalog, self.stores, selector)
        ordered = [s for s in self.stores if s.name in holders]
        manifest, source = await self.catalog.load_any(ordered, ref)
        chain = "ok"
        if manifest.previous:
            prev = None
            for store in self.stores:
                try:
                    prev = next((r for r in await self.catalog.snapshots(store) if r.id == manifest.previous), None)
                except StoreError:
                    continue
                if prev:
                    break
            if prev is None:
                # Pruned on purpose? Then a forget record signed by the mission names it.
                forgotten = (await load_forgotten(self.ring, self.registry, self.stores)).snapshots
                if manifest.previous not in forgotten:
                    chain = f"broken: previous snapshot {manifest.previous[:12]} is in no store"
                elif forgotten[manifest.previous] >= ref.key_time:
                    chain = f"broken: previous snapshot {manifest.previous[:12]} is not older"
            elif prev.key_time >= ref.key_time:
                chain = f"broken: previous snapshot {manifest.previous[:12]} is not older"
        return ref, manifest, source, chain

    async def restore(self, selector: str, target: Path, path: str | None = None, force: bool = False) -> RestoreResult:
        started = time.monotonic()
        ref, manifest, source, chain = await self.load(selector)
        entries = select_entries(manifest, path)
        target.mkdir(parents=True, exist_ok=True)
        if not force and any(target.iterdir()):
            raise RestoreTargetError(f"target {target} is not empty; pass --force to restore into it anyway")
        _raise_fd_limit()
        tree = SafeTree(str(target), force)
        try:
            files = [e for e in entries if e.type == "file"]
            self.progress.start(f"restore {self.registry}", sum(e.size for e in files), len(files))
            for e in sorted((e for e in entries if e.type == "dir"), key=lambda e: e.path):
                tree.dir_fd(e.path)
            fds = [tree.create_file(e.path) for e in files]
            try:
                for fd, e in zip(fds, files, strict=True):
                    os.ftruncate(fd, e.size)
                await self._fill(manifest, files, fds, source)
                for fd, e in zip(fds, files, strict=True):
                    os.fchmod(fd, e.mode & 0o7777)
                    os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
            finally:
                for fd in fds:
                    os.close(fd)
            for e in entries:
                if e.type == "symlink":
                    tree.symlink(e.path, e.target, e.mtime_ns)
            for e in sorted((e for e in entries if e.type == "dir"), key=lambda e: e.path.count("/"), reverse=True):
                tree.finish_dir(e.path, e.mode, e.mtime_ns)
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
            list(manifest.warnings),
        )

    async def _fill(self, manifest: Manifest, files: list[Entry], fds: list[int], source: str) -> None:
        plan: dict[int, dict[int, _Blob]] = defaultdict(dict)  # pack index -> offset -> blob
        for fi, e in enumerate(files):
            pos = 0
            for cid, pidx, off, length, raw in RECORD.iter_unpack(e.chunks):
                if pidx >= len(manifest.packs):
                    raise IntegrityError(f"manifest entry {e.path!r} names pack #{pidx}, which it does not list")
                blob = plan[pidx].get(off)
                if blob is None:
                    blob = plan[pidx][off] = _Blob(off, length, raw, cid, [])
                blob.writes.append((fi, pos))
                pos += raw
            if pos != e.size:
                raise IntegrityError(f"manifest entry {e.path!r}: chunks add up to {pos} bytes, size says {e.size}")
        order = [s for s in self.stores if s.name == source] + [s for s in self.stores if s.name != source]
        limit = asyncio.Semaphore(self.parallel)

        async def one(pidx: int, blobs: dict[int, _Blob]) -> None:
            async with limit:
                await self._restore_pack(manifest, pidx, sorted(blobs.values(), key=lambda b: b.offset), fds, order)

        await asyncio.gather(*(one(p, b) for p, b in plan.items()))

    async def _restore_pack(
        self, manifest: Manifest, pidx: int, blobs: list[_Blob], fds: list[int], stores: list[Store]
    ) -> None:
        ref = manifest.packs[pidx]
        key = pack_key(self.catalog.tag, ref.id)
        data_key = self.ring.data_key(self.registry, ref.key_id)
        needed = sum(b.length for b in blobs)
        problems: list[str] = []
        # Per store: ranged reads when little of the pack is needed; if those fail (a forged newer
        # version, damage), the whole pack checked against its id, older versions included.
        attempts = [
            (s, ranged)
            for s in stores
            for ranged in (True, False)
            if not ranged or needed < ref.size * WHOLE_PACK_SHARE
        ]
        for store, ranged in attempts:
            try:
                if ranged:
                    pieces = await self._ranged(store, key, blobs)
                else:
                    pieces = [(0, (await fetch_verified(store, key, ref.id)).data)]
                self.progress.transferred(store.name, sum(len(p[1]) for p in pieces))
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
        views = [(start, memoryview(data)) for start, data in pieces]
        for b in blobs:
            view = None
            for start, v in views:
                if start <= b.offset and b.offset + b.length <= start + len(v):
                    view = v[b.offset - start : b.offset - start + b.length]
                    break
            if view is None or len(view) != b.length:
                raise IntegrityError(f"{what}: pack is shorter than the manifest says")
            plain = open_blob(data_key, self.id_key, b.chunk_id, view, b.raw_len, f"{what} at {b.offset}")
            for fi, pos in b.writes:
                os.pwrite(fds[fi], plain, pos)
                written += len(plain)
        return written


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


__all__ = ["ObjectNotFoundError", "RestoreResult", "Restorer", "SnapshotNotFoundError", "find_snapshot"]
