"""The audit log's head as the newest snapshot abroad recorded it.

The mission database is the registry ``mission-site``: every snapshot of it holds the audit log
as it stood at that moment. To read that head, the newest verified snapshot is restored (every
byte checked, as `embassy restore` does) into a private folder that is removed afterwards, and
its log is read there. :func:`restore_newest` is the one place that calls the engine.
"""

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from embassy.audit.chain import GENESIS, ChainBreak, verify_chain
from embassy.audit.log import all_entries
from embassy.backup_service import cache_dir, open_stores, scratch_dir
from embassy.config import Config
from embassy.mission_db import MISSION_DB
from keys import Keyring
from replication.spec import RegistrySpec

MISSION_REGISTRY = "mission-site"


@dataclass(frozen=True, slots=True)
class Anchor:
    """The head of the log in a snapshot: ``count`` entries, the last one's hash ``head``."""

    registry: str
    snapshot: str
    store: str
    count: int
    head: str
    broken: ChainBreak | None  # the snapshot's own chain, checked as the local one is
    first_difference: int | None  # the first of its entries the local log lacks or holds otherwise


def mission_registry(config: Config) -> RegistrySpec | None:
    """The registry that replicates the mission database (by name, else by path), if any."""
    db = (config.data_dir / MISSION_DB).resolve()
    for reg in config.registries:
        if reg.name == MISSION_REGISTRY or (reg.kind == "sqlite" and reg.path and reg.path.resolve() == db):
            return reg
    return None


@contextmanager
def _private_folder(config: Config) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="audit-", dir=scratch_dir(config)))  # mode 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def restore_newest(config: Config, ring: Keyring, registry: RegistrySpec, target: Path) -> tuple[str, str]:
    """Restore the newest snapshot of ``registry`` into ``target``: (snapshot id, store)."""
    from replication.restore import Restorer

    stores = open_stores(config)
    try:
        result = await Restorer(ring, registry.name, stores, cache_dir(config)).restore("latest", target)
    finally:
        for store in stores:
            await store.close()
    return result.id, result.store


async def read_anchor(config: Config, ring: Keyring, registry: RegistrySpec) -> Anchor:
    """The newest snapshot's log, checked as a chain and held entry by entry to the local log."""
    assert registry.path is not None
    local = config.data_dir / MISSION_DB
    with _private_folder(config) as folder:
        snapshot, store = await restore_newest(config, ring, registry, folder)
        restored = folder / registry.path.name
        with closing(sqlite3.connect(f"file:{restored}?mode=ro", uri=True)) as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_log'").fetchone() is None:
                return Anchor(registry.name, snapshot, store, 0, GENESIS, None, None)
            count, head, broken = verify_chain(all_entries(conn))
            conn.execute("ATTACH DATABASE ? AS local", (f"file:{local}?mode=ro",))
            (first,) = conn.execute(
                "SELECT min(s.seq) FROM main.audit_log s LEFT JOIN local.audit_log l ON l.seq = s.seq "
                "WHERE l.hash IS NULL OR l.hash != s.hash"
            ).fetchone()
    return Anchor(registry.name, snapshot, store, count, head, broken, first)
