"""The live comparison's byte-level rules, on real files and real SQLite databases (no stores)."""

from __future__ import annotations

import io
import os
import sqlite3
from pathlib import Path

from replication.crypto import chunk_id
from replication.live_compare import _same_but_header, first_difference
from replication.manifest import RECORD, Entry

BLOCK = 16 << 10


def entry_for(data: bytes, key: bytes, sizes: list[int]) -> Entry:
    """A manifest entry whose chunk records cut ``data`` at ``sizes``."""
    records, pos = b"", 0
    for n in sizes:
        records += RECORD.pack(chunk_id(key, data[pos : pos + n]), 0, 0, n, n, 0)
        pos += n
    assert pos == len(data)
    return Entry("f", "file", 0o600, 0, len(data), records)


def test_first_difference_names_the_chunk_and_catches_length_changes() -> None:
    key = os.urandom(32)
    data = os.urandom(3 * BLOCK + 100)
    entry = entry_for(data, key, [BLOCK, BLOCK, BLOCK, 100])
    assert first_difference(io.BytesIO(data), entry, key) is None
    flipped = bytearray(data)
    flipped[2 * BLOCK + 7] ^= 1
    assert first_difference(io.BytesIO(bytes(flipped)), entry, key) == 2 * BLOCK
    assert first_difference(io.BytesIO(data[:-1]), entry, key) == 3 * BLOCK
    assert first_difference(io.BytesIO(data + b"x"), entry, key) == len(data)


def make_db(path: Path, wal: bool) -> None:
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    db.executemany("INSERT INTO t (b) VALUES (?)", ((f"row {i}" * 5,) for i in range(5000)))
    db.commit()
    db.close()


def backup_copy(src: Path, dst: Path) -> None:
    a, b = sqlite3.connect(f"file:{src}?mode=ro", uri=True), sqlite3.connect(dst)
    a.backup(b, pages=-1)
    b.close()
    a.close()


def test_a_database_read_in_place_matches_its_backup_api_snapshot_but_for_the_header(tmp_path: Path) -> None:
    # The reader snapshots a database in place or through the backup API, which bumps two header
    # counters: a snapshot taken one way and a live view read the other must still compare equal.
    key = os.urandom(32)
    for wal in (False, True):
        live, snap = tmp_path / f"live-{wal}.db", tmp_path / f"snap-{wal}.db"
        make_db(live, wal)
        backup_copy(live, snap)
        snapshot = snap.read_bytes()
        raw = live.read_bytes()
        assert raw != snapshot and len(raw) == len(snapshot)
        entry = entry_for(snapshot, key, [BLOCK] * (len(snapshot) // BLOCK))

        def tolerate(pos: int, view: memoryview, snap: Path = snap) -> bool:
            return _same_but_header(pos, view, snap)

        assert first_difference(io.BytesIO(raw), entry, key) == 0  # byte for byte, the header differs
        assert first_difference(io.BytesIO(raw), entry, key, tolerate=tolerate) is None
        # Anything else that differs, in the header's block or later, is still a difference.
        for where, expected in ((60, 0), (5000, 0), (3 * BLOCK + 9, 3 * BLOCK)):
            damaged = bytearray(raw)
            damaged[where] ^= 0x40
            assert first_difference(io.BytesIO(bytes(damaged)), entry, key, tolerate=tolerate) == expected
