"""Backups of a WAL-mode SQLite registry through a WalTracker (what the continuous replicator keeps):
after the first, each snapshot reads only the blocks of the pages written since the previous one,
references the rest from the parent, and still restores on its own to the database as it was at
its commit. Two real filesystem stores; SQLite itself checks every restored point."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from embassy.continuous.probe import change_token
from engine.localkit import backup_to, fs_store
from keys import Keyring
from replication.backup import BackupOptions, RegistryResult
from replication.readers import WalTracker
from replication.restore import Restorer
from replication.spec import RegistrySpec

ROWS = 60_000


def rows(db: Path) -> list[tuple[int, str, str]]:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT id, name, note FROM person ORDER BY id").fetchall()


class Mission:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ring = Keyring.create(["cadastre"])
        self.stores = [fs_store(root, "lu"), fs_store(root, "ee")]
        self.db = root / "cadastre.db"
        self.spec = RegistrySpec("cadastre", "sqlite", self.db)
        self.tracker = WalTracker(self.db)
        self.app = sqlite3.connect(self.db)
        self.app.execute("PRAGMA journal_mode=WAL")
        self.app.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT, note TEXT)")
        self.app.execute("CREATE INDEX person_name ON person(name)")
        self.app.executemany(
            "INSERT INTO person (name, note) VALUES (?, ?)", ((f"person {i}", f"row {i}" * 8) for i in range(ROWS))
        )
        self.app.commit()

    async def backup(self, tracked: bool = True, reread: bool = False) -> RegistryResult:
        tracker = self.tracker if tracked else None
        return await backup_to(self.ring, self.stores, self.spec, self.root, tracker, BackupOptions(reread=reread))

    async def restored(self, snapshot: str, where: Path) -> list[tuple[int, str, str]]:
        result = await Restorer(self.ring, "cadastre", self.stores[1:], self.root / "fresh-cache").restore(
            snapshot, where
        )
        assert result.files == 1
        return rows(where / "cadastre.db")

    def change(self, rng: random.Random) -> None:
        for _ in range(rng.randrange(1, 4)):
            ids = [rng.randrange(1, ROWS) for _ in range(rng.randrange(1, 6))]
            self.app.executemany("UPDATE person SET note = ? WHERE id = ?", [(f"changed {i}", i) for i in ids])
            self.app.execute("INSERT INTO person (name, note) VALUES (?, ?)", ("newcomer", "x" * rng.randrange(9, 900)))
            self.app.commit()


@pytest.fixture
def mission(tmp_path: Path) -> Iterator[Mission]:
    m = Mission(tmp_path)
    yield m
    m.tracker.close()
    m.app.close()


async def test_after_the_first_each_snapshot_reads_only_the_changed_blocks_and_restores_each_point(
    mission: Mission, tmp_path: Path
) -> None:
    rng = random.Random(4711)
    first = await mission.backup()
    assert first.read_bytes == first.bytes and first.bytes > 2 << 20  # no guard yet: the whole database
    points = [(first.id, rows(mission.db))]
    reads = []
    for i in range(6):
        mission.change(rng)
        if i == 3:  # a checkpoint between rounds: the pages it moves into the file are not changes
            mission.app.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        result = await mission.backup()
        assert result.reused_files == 0 and result.id not in {p[0] for p in points}
        reads.append(result.read_bytes)
        points.append((result.id, rows(mission.db)))
    assert all(0 < r < first.bytes // 10 for r in reads), (reads, first.bytes)
    for n, (snapshot, expected) in enumerate(points):
        assert snapshot is not None
        assert await mission.restored(snapshot, tmp_path / f"point{n}") == expected


async def test_an_unchanged_database_is_reused_and_its_next_change_is_still_read_alone(mission: Mission) -> None:
    first = await mission.backup()
    same = await mission.backup()
    assert same.reused_files == 1 and same.read_bytes == 0 and same.bytes == first.bytes
    mission.change(random.Random(1))
    changed = await mission.backup()
    assert 0 < changed.read_bytes < first.bytes // 10


async def test_a_parent_the_tracker_did_not_make_and_a_full_re_read_read_everything(
    mission: Mission, tmp_path: Path
) -> None:
    rng = random.Random(99)
    await mission.backup()
    mission.change(rng)
    other = await mission.backup(tracked=False)  # an operator's `embassy backup` in between
    assert other.read_bytes == other.bytes
    mission.change(rng)
    after = await mission.backup()  # its parent is not the content the tracker's changes start from
    assert after.read_bytes == after.bytes
    mission.change(rng)
    reread = await mission.backup(reread=True)  # the daily guard against a missed change
    assert reread.read_bytes == reread.bytes and reread.new_bytes < reread.bytes // 10
    expected = rows(mission.db)
    assert reread.id is not None and await mission.restored(reread.id, tmp_path / "r") == expected


async def test_a_database_that_leaves_wal_mode_is_read_through_a_copy(mission: Mission, tmp_path: Path) -> None:
    await mission.backup()
    mission.tracker.release()  # its guard, a reader, keeps the journal mode from changing meanwhile
    mission.app.execute("PRAGMA journal_mode=DELETE")
    mission.change(random.Random(5))
    result = await mission.backup()
    assert result.read_bytes == result.bytes
    assert result.id is not None and await mission.restored(result.id, tmp_path / "r") == rows(mission.db)


COMMIT_ELSEWHERE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("UPDATE person SET note = 'from another process' WHERE id % 4999 = 0")
conn.commit()
conn.close()  # the last connection would checkpoint the whole log into the file and delete it
"""


async def test_the_guard_keeps_its_locks_when_another_process_commits_and_closes(
    mission: Mission, tmp_path: Path
) -> None:
    """SQLite's locks are POSIX locks, lost on closing any descriptor of the file: the scan and the
    probe read the file through the tracker's own, or another process's closing connection takes
    itself for the last, checkpoints the log away and the next round misses its commit."""
    mission.app.close()  # the application is now another process only
    await mission.backup()
    assert change_token(mission.spec, mission.tracker) is not None  # reads the header, as the replicator does
    done = subprocess.run([sys.executable, "-c", COMMIT_ELSEWHERE, str(mission.db)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cadastre.db-wal").stat().st_size > 0  # still in the log: the guard held
    result = await mission.backup()
    assert 0 < result.read_bytes < result.bytes // 10
    expected = rows(mission.db)
    assert sum(1 for r in expected if r[2] == "from another process") == ROWS // 4999
    assert result.id is not None and await mission.restored(result.id, tmp_path / "r") == expected
