"""Backup rounds as the CLI and the server run them: config in, per-registry results out.

One machine runs one backup at a time: an exclusive lock on ``<data_dir>/backup.lock`` keeps the
server's continuous replication and an operator's `embassy backup` from forking a registry's
snapshot chain (two snapshots with the same parent).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embassy.config import Config
from keys import Keyring
from replication.backup import BackupOptions, BackupRound, RegistryResult
from replication.errors import ReplicationError
from replication.fsutil import spread_subfolders
from replication.progress import Progress
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
def backup_lock(config: Config, wait: bool) -> Iterator[None]:
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(config.data_dir / "backup.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as e:
            raise BackupBusyError(
                f"another backup is running on this machine ({config.data_dir / 'backup.lock'})"
            ) from e
        yield
    finally:
        os.close(fd)


def open_stores(config: Config, names: list[str] | None = None) -> list[Store]:
    specs = [config.store(n) for n in names] if names else list(config.stores)
    return [open_store(s) for s in specs]


async def run_backup(
    config: Config,
    ring: Keyring,
    registries: list[RegistrySpec],
    progress: Progress | None = None,
    options: BackupOptions | None = None,
) -> list[RegistryResult]:
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
        )
        return await engine.run(registries)
    finally:
        await asyncio.gather(*(s.close() for s in stores), return_exceptions=True)


async def run_backup_round(config: Config, ring: Keyring) -> list[RegistryResult]:
    """The server's continuous replication: every registry, skipping a round if one is running."""
    missing = [r.name for r in config.registries if not ring.has_registry(r.name)]
    if missing:
        log.warning("registries without keys (run `embassy init` or `embassy backup` once): %s", ", ".join(missing))
    registries = [r for r in config.registries if ring.has_registry(r.name)]
    try:
        with backup_lock(config, wait=False):
            results = await run_backup(config, ring, registries)
    except BackupBusyError as e:
        log.info("%s; skipping this round", e)
        return []
    for r in results:
        if r.error or not r.quorum_met:
            log.error("backup of %s: %s", r.registry, r.error or f"quorum not met ({r.stores})")
        else:
            log.info("backup of %s: snapshot %s, %d new bytes", r.registry, (r.id or "")[:12], r.new_bytes)
    return results
