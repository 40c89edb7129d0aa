"""In-process backups to real filesystem stores: the engine's Python API, no CLI, no SeaweedFS
(for tests whose subject is what a backup reads, packs and restores, not the stores)."""

from __future__ import annotations

from pathlib import Path

from keys import Keyring
from replication.backup import BackupOptions, BackupRound, RegistryResult
from replication.readers import WalTracker, make_reader
from replication.spec import RegistrySpec, StoreSpec
from replication.stores import FilesystemBackend, Store


def fs_store(root: Path, name: str) -> Store:
    return Store(StoreSpec(name, "filesystem", path=root / name), FilesystemBackend(name, root / name))


async def backup_to(
    ring: Keyring,
    stores: list[Store],
    spec: RegistrySpec,
    root: Path,
    tracker: WalTracker | None = None,
    options: BackupOptions | None = None,
) -> RegistryResult:
    """One snapshot of ``spec`` in every store (quorum: all of them), its cache and scratch under
    ``root``; ``tracker``: read a SQLite database through it, as the continuous replicator does."""
    engine = BackupRound(
        ring,
        stores,
        lambda s: True,
        len(stores),
        root / "cache",
        root / "scratch",
        options=options or BackupOptions(),
        readers=lambda spec, scratch: make_reader(spec, scratch, tracker),
    )
    [result] = await engine.run([spec])
    assert result.error is None and result.quorum_met, result
    return result
