"""Gathering: a snapshot of a registry that changes a little at a time spans a bounded number of
packs whatever the length of its history, and every snapshot, before and after a gathering, still
restores byte for byte. The policy alone (replication/gather.py), then the real backup through
two real filesystem stores: a folder registry (files cache) and a tracked WAL-mode SQLite
database (parent blocks that are not read)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.localkit import backup_to, fs_store
from keys import Keyring
from replication.backup import RegistryResult
from replication.gather import SLACK, PackUse, budget, packs_to_gather, threshold
from replication.inventory import Inventory
from replication.prune import PruneOptions, Pruner
from replication.readers import WalTracker
from replication.restore import Restorer
from replication.spec import KeepPolicy, RegistrySpec

MiB = 1 << 20
TARGET = 8 * MiB


# -- the policy ------------------------------------------------------------------------------------


def test_a_snapshot_spanning_few_packs_gathers_nothing() -> None:
    uses = [PackUse("big", 4 * MiB)] + [PackUse(f"p{i:02d}", 40 << 10) for i in range(SLACK + 1)]
    assert len(uses) == threshold(sum(u.live for u in uses), TARGET)
    assert packs_to_gather(uses, TARGET) == set()


def test_past_the_threshold_the_least_used_packs_are_gathered_and_well_used_ones_never() -> None:
    uses = [PackUse("big", 4 * MiB), PackUse("half", 5 * MiB)]
    uses += [PackUse(f"p{i:02d}", (40 << 10) + i) for i in range(SLACK + 3)]
    assert len(uses) == threshold(sum(u.live for u in uses), TARGET) + 1  # 9.8 MiB: ideally 2 packs
    chosen = packs_to_gather(uses, TARGET)
    assert chosen == {f"p{i:02d}" for i in range(SLACK + 3)}
    # Used for half a pack or more: gathering them would move more than it saves.
    assert not chosen & {"big", "half"}


def test_one_backup_moves_at_most_its_budget_the_least_used_first() -> None:
    uses = [PackUse(f"p{i:03d}", MiB + i) for i in range(100)]
    live = sum(u.live for u in uses)
    assert budget(live, TARGET) == TARGET  # 100 MiB / 64 is under a pack
    chosen = packs_to_gather(uses, TARGET)
    assert chosen == {f"p{i:03d}" for i in range(7)}  # 7 MiB + 21 bytes fit the 8 MiB budget, an 8th not
    uses = [PackUse(f"p{i:03d}", MiB) for i in range(1000)] + [PackUse(f"w{i}", TARGET) for i in range(64)]
    moved = sum(MiB for _ in packs_to_gather(uses, TARGET))
    assert moved <= budget(sum(u.live for u in uses), TARGET) and moved > TARGET


@settings(max_examples=60, deadline=None)
@given(
    files=st.integers(1, 300),
    file_size=st.sampled_from([4 << 10, 40 << 10, 1 * MiB, 3 * MiB]),
    steps=st.integers(1, 400),
    seed=st.integers(0, 2**32),
)
def test_simulated_history_stays_under_the_bound(files: int, file_size: int, steps: int, seed: int) -> None:
    """Each backup rewrites one file into a pack of its own, with whatever it gathers: the newest
    snapshot never spans more than the threshold plus one pack per target of what was moved."""
    rng = random.Random(seed)
    where = {f: "p0" for f in range(files)}  # file -> pack
    for step in range(1, steps + 1):
        used: dict[str, int] = {}
        for pack in where.values():
            used[pack] = used.get(pack, 0) + file_size
        live = files * file_size
        chosen = packs_to_gather((PackUse(p, n) for p, n in used.items()), TARGET)
        assert sum(used[p] for p in chosen) <= budget(live, TARGET)
        # Past the threshold it always merges two packs or more, so the count goes down.
        assert (len(chosen) >= 2) == (len(used) > threshold(live, TARGET)), (len(used), chosen)
        new = f"p{step}"
        where[rng.randrange(files)] = new
        for f, pack in where.items():
            if pack in chosen:
                where[f] = new
        assert len(set(where.values())) <= threshold(live, TARGET) + 1


# -- the backup ------------------------------------------------------------------------------------


class Mission:
    def __init__(self, root: Path, spec: RegistrySpec, tracker: WalTracker | None = None) -> None:
        self.root = root
        self.spec = spec
        self.tracker = tracker
        self.ring = Keyring.create([spec.name])
        self.stores = [fs_store(root, "lu"), fs_store(root, "ee")]

    async def backup(self) -> RegistryResult:
        return await backup_to(self.ring, self.stores, self.spec, self.root, self.tracker)

    async def packs_named(self, snapshot: str) -> int:
        inv = await Inventory(self.ring, self.stores).registry(self.spec.name)
        manifest, _ = await inv.manifest(snapshot)
        return len(manifest.packs)

    async def restore(self, snapshot: str, where: Path) -> Path:
        await Restorer(self.ring, self.spec.name, self.stores[1:], self.root / "fresh-cache").restore(snapshot, where)
        return where


FILES, FILE_SIZE = 30, 16 << 10
PRUNE = PruneOptions(grace=timedelta(0))


def stored_packs(store_root: Path) -> int:
    return sum(1 for p in store_root.rglob("*") if p.is_file() and "/packs/" in p.as_posix())


def version(j: int, v: int) -> bytes:
    return random.Random(f"{j}-{v}").randbytes(FILE_SIZE)


def rewrite(folder: Path, j: int, v: int) -> None:
    tmp = folder / f"f{j:02d}.new"
    tmp.write_bytes(version(j, v))
    tmp.replace(folder / f"f{j:02d}.bin")  # a new inode: the files cache sees the change


async def test_a_folder_changed_one_file_at_a_time_stays_within_the_bound_and_restores_every_point(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "registry"
    folder.mkdir()
    for j in range(FILES):
        rewrite(folder, j, 0)
    mission = Mission(tmp_path, RegistrySpec("civil", "directory", folder))
    first = await mission.backup()
    assert first.id is not None and first.gathered_packs == 0
    points = [(first.id, {j: 0 for j in range(FILES)})]
    versions = dict(points[0][1])
    results = []
    for n in range(1, SLACK + 8):
        j = n % FILES
        versions[j] = n
        rewrite(folder, j, n)
        result = await mission.backup()
        assert result.id is not None
        assert result.new_bytes == FILE_SIZE  # what was gathered is not new data
        results.append(result)
        points.append((result.id, dict(versions)))
    gathering = [r for r in results if r.gathered_packs]
    assert len(gathering) == 1, [(r.gathered_packs, r.gathered_bytes) for r in results]
    g = gathering[0]
    # Its parent spanned 2 x 1 + 16 + 1 packs: the first backup's (12 of its 30 files still used)
    # and one per rewritten file, every one used for under half a pack: all gathered, all the
    # files read again (none reused from the files cache), one pack written.
    span = threshold(FILES * FILE_SIZE, TARGET) + 1
    assert g.gathered_packs == span == SLACK + 3
    assert g.gathered_bytes == (FILES - 1) * FILE_SIZE and g.reused_files == 0
    assert g.read_bytes == FILES * FILE_SIZE
    spans = [await mission.packs_named(sid) for sid, _ in points]
    assert spans == [min(n + 1, span) if n <= span - 1 else n - span + 1 for n in range(len(points))], spans
    for n, (sid, expected) in enumerate(points):
        if n % 3 and n != len(points) - 1 and sid != g.id:
            continue
        out = await mission.restore(sid, tmp_path / f"point{n}")
        for j in range(FILES):
            assert (out / f"f{j:02d}.bin").read_bytes() == version(j, expected[j]), (n, j)

    # A prune keeping the last two snapshots leaves only the packs they name: the small packs
    # before the gathering are no longer needed by anything kept.
    assert stored_packs(tmp_path / "lu") == len(points)  # one a backup
    policy = KeepPolicy(last=2, daily=0, weekly=0, monthly=0)
    pruned = await Pruner(mission.ring, mission.stores, ["civil"], policy, tmp_path / "cache", PRUNE).run()
    assert pruned.ok, pruned.to_json()
    assert stored_packs(tmp_path / "lu") == stored_packs(tmp_path / "ee") == spans[-1]
    sid, expected = points[-1]
    out = await mission.restore(sid, tmp_path / "after-prune")
    assert all((out / f"f{j:02d}.bin").read_bytes() == version(j, expected[j]) for j in range(FILES))


ROWS = 40_000


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    db = tmp_path / "cadastre.db"
    app = sqlite3.connect(db)
    app.execute("PRAGMA journal_mode=WAL")
    app.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, note TEXT)")
    app.executemany("INSERT INTO person (note) VALUES (?)", ((f"row {i}" * 8,) for i in range(ROWS)))
    app.commit()
    yield db, app
    app.close()


def rows(db: Path) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT id, note FROM person ORDER BY id").fetchall()


async def test_a_tracked_database_reads_the_gathered_blocks_and_restores_exactly(
    tmp_path: Path, database: tuple[Path, sqlite3.Connection]
) -> None:
    db, app = database
    tracker = WalTracker(db)
    try:
        mission = Mission(tmp_path, RegistrySpec("cadastre", "sqlite", db), tracker)
        first = await mission.backup()
        rng = random.Random(7)
        results = []
        for _ in range(SLACK + 6):
            ids = [rng.randrange(1, ROWS) for _ in range(3)]
            app.executemany("UPDATE person SET note = ? WHERE id = ?", [(f"changed {rng.random()}", i) for i in ids])
            app.commit()
            results.append(await mission.backup())
        gathering = [r for r in results if r.gathered_packs]
        assert gathering, [r.read_bytes for r in results]
        g = gathering[0]
        quiet = [r.read_bytes for r in results if not r.gathered_packs]
        assert max(quiet) < first.bytes // 20 < g.read_bytes  # a gathering reads its blocks again
        assert g.gathered_bytes > 0 and g.new_bytes < first.bytes // 20
        last = results[-1]
        assert last.id is not None and g.id is not None
        assert await mission.packs_named(last.id) <= threshold(first.bytes, TARGET) + 1
        expected = rows(db)
        assert rows(await mission.restore(last.id, tmp_path / "last") / "cadastre.db") == expected
    finally:
        tracker.close()
