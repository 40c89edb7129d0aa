"""Backup rounds as the CLI and the server run them: config in, per-registry results out.

One machine backs up a registry once at a time: an exclusive lock per registry,
``<data_dir>/locks/backup-<registry>.lock``, keeps the server's continuous replication and an
operator's `embassy backup` from forking a registry's snapshot chain (two snapshots with the same
parent), while other registries go on: a slow registry never holds up another one's round.
A command takes its registries' locks in name order, so two commands never wait on each other
in a circle.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from embassy.config import Config
from keys import Keyring
from replication.backup import BackupOptions, BackupRound, RegistryResult
from replication.errors import ReplicationError
from replication.fsutil import spread_subfolders
from replication.progress import Progress
from replication.readers import RegistryReader, make_reader
from replication.spec import RegistrySpec
from replication.stores import Store, open_store

log = logging.getLogger("embassy.replication")


class BackupBusyError(ReplicationError):
    """Another backup is running on this machine."""


def cache_dir(config: Config) -> Path:
    return config.data_dir / "cache"


def scratch_dir(config: Config) -> Path:
    """Where drills restore and databases are copied: each run's folder goes in its own place."""
    path = config.data_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    spread_subfolders(path)
    return path


@contextmanager
def backup_lock(
    config: Config, wait: bool, registries: list[str] | None = None, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the backup lock of each registry (every configured one by default) until the block ends.

    ``wait=False`` raises :class:`BackupBusyError` at once when another process holds one; with
    ``wait=True``, ``on_wait`` is told (a sentence) before waiting for it."""
    names = sorted(set(registries if registries is not None else [r.name for r in config.registries]))
    folder = config.data_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with ExitStack() as held:
        for name in names:
            held.enter_context(_registry_lock(folder / f"backup-{name}.lock", name, wait, on_wait))
        yield


@contextmanager
def _registry_lock(path: Path, registry: str, wait: bool, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            busy = f"another backup of {registry} is running on this machine ({path})"
            if not wait:
                raise BackupBusyError(busy) from e
            if on_wait is not None:
                on_wait(f"{busy}; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class StoreUsage:
    """What one run asked of one store (embassy/continuous/metrics.py counts it)."""

    uploaded_bytes: int
    uploaded_objects: int
    retries: int


def open_stores(config: Config, names: list[str] | None = None, probe_after: float | None = None) -> list[Store]:
    """The stores, each set aside for the rest of the run once it fails or hangs, or with
    ``probe_after`` (seconds) probed again after that long, doubling."""
    specs = [config.store(n) for n in names] if names else list(config.stores)
    return [open_store(s, probe_after=probe_after) for s in specs]


async def run_backup(
    config: Config,
    ring: Keyring,
    registries: list[RegistrySpec],
    progress: Progress | None = None,
    options: BackupOptions | None = None,
    usage: dict[str, StoreUsage] | None = None,
    set_aside: dict[str, str] | None = None,
    readers: Callable[[RegistrySpec, Path], RegistryReader] = make_reader,
) -> list[RegistryResult]:
    """Back ``registries`` up to every store; ``usage``, when given, receives each store's counts.
    Stores in ``set_aside`` (name -> why) are left out from the start, reported as failed.
    ``readers`` makes each registry's reader (the replicator's keeps its SQLite trackers)."""
    stores = open_stores(config)
    try:
        counts = {s.name: config.counts_for_quorum(s) for s in config.stores}
        engine = BackupRound(
            ring,
            stores,
            lambda s: counts[s.name],
            config.replication.quorum,
            cache_dir(config),
            scratch_dir(config),
            progress,
            options,
            readers,
        )
        for name, reason in (set_aside or {}).items():
            engine.set_aside(name, reason)
        return await engine.run(registries)
    finally:
        if usage is not None:
            usage.update({s.name: StoreUsage(s.bytes_up, s.objects_up, s.retries) for s in stores})
        await asyncio.gather(*(s.close() for s in stores), return_exceptions=True)
