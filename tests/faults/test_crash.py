"""Crash safety: `embassy backup` and `embassy restore` killed with SIGKILL at any moment leave every
store consistent, and the next run resumes: packs that arrived are reused (never sent again), the
scratch copy of a WAL-mode database is removed, a restore re-run with --force finishes."""

from __future__ import annotations

import asyncio
import filecmp
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import fresh_bucket
from dev_stores import DevStore

from embassy.backup_service import StoreUsage, run_backup
from faults.crashkit import STORES, CrashMission, kill_when, make_mission, random_files, wal_database
from replication.readers.sqlite import locked_temp, remove_stale_copies

DIRECTORY = '[[registries]]\nname = "files"\nkind = "directory"\npath = "registry"\n'
SQLITE = '[[registries]]\nname = "db"\nkind = "sqlite"\npath = "db.sqlite"\n'


def resume(m: CrashMission) -> tuple[dict[str, object], dict[str, StoreUsage]]:
    """The next backup, run in this process so that each store's PUTs are counted."""
    usage: dict[str, StoreUsage] = {}
    config = m.config
    [result] = asyncio.run(run_backup(config, m.ring, list(config.registries), usage=usage))
    return result.to_json(), usage


def assert_clean(m: CrashMission) -> None:
    verify = m.cli("verify", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_killed_backup_leaves_no_snapshot_and_the_next_one_sends_only_the_missing_packs(tmp_path: Path) -> None:
    random_files(tmp_path / "registry", 24, 4 << 20)  # 96 MiB that does not compress: 12 packs
    m = make_mission(tmp_path, DIRECTORY, ["files"])
    proc = m.start("backup", "--json")
    assert kill_when(proc, lambda: len(m.packs("lu")) >= 4 and len(m.packs("ee")) >= 4), "finished before the kill"
    arrived = {s: m.packs(s) for s in STORES}
    assert all(not m.snapshot_files(s) for s in STORES)  # nothing half-written is a snapshot
    snapshots = m.cli("snapshots", "--json")
    assert snapshots.returncode == 0, snapshots.stderr
    assert "files" not in snapshots.stdout or json.loads(snapshots.stdout).get("snapshots", []) == []

    result, usage = resume(m)
    assert result["quorum_met"] is True and "error" not in result
    for s in STORES:
        now = m.packs(s)
        assert {k: now[k] for k in arrived[s]} == arrived[s]  # every arrived pack kept, none written again
        sent = set(now) - set(arrived[s])
        # Only the packs that had not arrived, plus the manifest and the store's lock object.
        assert usage[s].uploaded_objects <= len(sent) + 3, (s, usage[s], len(sent))
        assert len(sent) < len(now)
        print(f"{s}: {len(arrived[s])} packs arrived before the kill, {len(sent)} sent after, PUTs {usage[s]}")
    assert result["resumed_packs"] >= min(len(arrived[s]) for s in STORES)
    assert not list((tmp_path / "var" / "cache" / "journal").glob("*"))  # emptied once the manifest is out
    assert_clean(m)
    restored = tmp_path / "restored"
    out = m.cli("restore", "latest", "--registry", "files", "--target", str(restored))
    assert out.returncode == 0, out.stderr
    assert not filecmp.dircmp(tmp_path / "registry", restored).diff_files
    assert sorted(p.name for p in restored.iterdir()) == sorted(p.name for p in (tmp_path / "registry").iterdir())


def test_kill_at_five_random_points_then_the_next_run_completes_and_reuses_what_arrived(
    tmp_path: Path, seaweed: list[DevStore], record_fault: Callable[..., None]
) -> None:
    rng = random.Random(1305)
    random_files(tmp_path / "registry", 16, 4 << 20)
    m = make_mission(tmp_path, DIRECTORY, ["files"], (seaweed[0], fresh_bucket(seaweed[0])))
    seen: dict[str, dict[str, tuple[Any, ...]]] = {s: {} for s in m.stores}
    kills = 0
    for round_ in range(5):
        # 32 MiB new each time: 4 packs per store to send, 8 in all, and more if a kill left some.
        random_files(tmp_path / "registry", 8, 4 << 20, seed=round_ + 1)
        before = sum(len(m.packs(s)) for s in m.stores)
        goal = before + rng.randint(0, 4)  # kill once this many more packs arrived (0: at once)
        proc = m.start("backup", "--json")
        kills += kill_when(proc, lambda goal=goal: sum(len(m.packs(s)) for s in m.stores) >= goal)
        for s in m.stores:
            for name, ident in m.packs(s).items():
                assert seen[s].setdefault(name, ident) == ident, f"{s}: pack {name} written twice"
        # Whatever the stores hold now is consistent: every snapshot listed verifies.
        assert_clean(m)
    assert kills >= 4  # (a run may still outpace the poll and finish: then it is a clean run)
    result, usage = resume(m)
    assert result["quorum_met"] is True and "error" not in result
    for s in m.stores:
        now = m.packs(s)
        assert {k: now[k] for k in seen[s]} == seen[s]
        assert usage[s].uploaded_objects <= len(set(now) - set(seen[s])) + 3
        print(
            f"{s}: {kills} kills, {len(seen[s])} packs arrived before, {len(set(now) - set(seen[s]))} after; {usage[s]}"
        )
    assert_clean(m)
    # A killed backup commits no snapshot (attempted, not completed); none that committed is lost.
    record_fault("backup kill -9 at 5 random points, then resumed", 6, 6 - kills, 0, None)


def test_a_killed_backup_of_a_wal_database_leaves_a_copy_that_the_next_run_removes(tmp_path: Path) -> None:
    writer = wal_database(tmp_path / "db.sqlite", 60_000)  # ~60 MiB, all of it in the WAL
    try:
        m = make_mission(tmp_path, SQLITE, ["db"])
        scratch = tmp_path / "var" / "tmp"
        proc = m.start("backup", "--json")
        assert kill_when(proc, lambda: bool(list(scratch.glob("sqlite-*.db"))))
        assert list(scratch.glob("sqlite-*.db"))  # left behind by the killed run
        out = m.cli("backup", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["snapshots"][0]["quorum_met"] is True
        assert not list(scratch.glob("sqlite-*"))
        assert_clean(m)
    finally:
        writer.close()


def test_a_copy_in_use_by_a_running_backup_is_not_removed(tmp_path: Path) -> None:
    fd, held = locked_temp(tmp_path)
    stale = tmp_path / "sqlite-stale.db"
    stale.write_bytes(b"left by a killed run")
    (tmp_path / "sqlite-stale.db-journal").write_bytes(b"x")
    other = tmp_path / "drill-folder"
    other.mkdir()
    try:
        assert remove_stale_copies(tmp_path) == ["sqlite-stale.db"]
        assert held.exists() and other.exists()
        assert not (tmp_path / "sqlite-stale.db-journal").exists()
    finally:
        os.close(fd)
    assert remove_stale_copies(tmp_path) == [held.name]  # its holder is gone: now it is stale


def test_an_interrupted_restore_rerun_with_force_finishes_byte_identical(tmp_path: Path) -> None:
    random_files(tmp_path / "registry", 24, 4 << 20)
    m = make_mission(tmp_path, DIRECTORY, ["files"])
    out = m.cli("backup", "--json")
    assert out.returncode == 0, out.stderr
    target = tmp_path / "restored"
    proc = m.start("restore", "latest", "--registry", "files", "--target", str(target))

    def some_written() -> bool:
        return target.exists() and sum(p.stat().st_size for p in target.iterdir() if p.is_file()) >= 16 << 20

    assert kill_when(proc, some_written), "the restore finished before the kill"
    again = m.cli("restore", "latest", "--registry", "files", "--target", str(target))
    assert again.returncode != 0 and "--force" in again.stderr  # not silently into a partial folder
    again = m.cli("restore", "latest", "--registry", "files", "--target", str(target), "--force")
    assert again.returncode == 0, again.stderr
    source = sorted(p.name for p in (tmp_path / "registry").iterdir())
    assert sorted(p.name for p in target.iterdir()) == source
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "registry", target, source, shallow=False)
    assert (mismatch, errors) == ([], []) and match == source


def test_a_killed_prune_leaves_every_kept_snapshot_whole_and_the_next_prune_finishes(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    m = make_mission(tmp_path, DIRECTORY, ["files"], replication="keep = { last = 1 }\n")
    for generation in range(4):  # each snapshot its own files: the old ones' packs can all go
        for old in registry.glob("*"):
            old.unlink()
        random_files(registry, 6, 4 << 20, seed=generation)
        out = m.cli("backup", "--json")
        assert out.returncode == 0, out.stderr
    assert all(len(m.snapshot_files(s)) == 4 for s in STORES)
    proc = m.start("prune", "--grace", "0", "--json")
    assert kill_when(proc, lambda: len(m.snapshot_files("lu")) < 4), "the prune finished before the kill"
    assert_clean(m)  # what is left verifies: the kept snapshot whole, the forgotten ones recorded
    out = m.cli("prune", "--grace", "0", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert all(len(m.snapshot_files(s)) == 1 for s in STORES)
    assert all(len(m.packs(s)) == 3 for s in STORES)  # 24 MiB: the kept snapshot's packs only
    assert_clean(m)
    restored = tmp_path / "restored"
    out = m.cli("restore", "latest", "--registry", "files", "--target", str(restored))
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in registry.iterdir())
    assert filecmp.cmpfiles(registry, restored, names, shallow=False) == (names, [], [])
