"""The SQLite reader: consistent views, and a files-cache key that only changes when the database does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from replication.readers.sqlite import SqliteReader


def make_db(path: Path, wal: bool) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    conn.executemany("INSERT INTO t (b) VALUES (?)", [("x" * 100,)] * 2000)
    conn.commit()
    conn.close()


def read(reader: SqliteReader) -> tuple[bytes, tuple[int, ...] | None]:
    item = reader.scan()[0]
    with reader.open(item) as (stream, now):
        return stream.read(), now.cache


def test_reading_a_quiet_wal_database_does_not_look_like_a_change(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    make_db(db, wal=True)
    assert not (tmp_path / "reg.db-wal").exists()  # closed cleanly: no WAL file yet
    data, recorded = read(SqliteReader(db, tmp_path / "scratch"))
    assert data == db.read_bytes()  # read in place: the file itself
    assert SqliteReader(db, tmp_path / "scratch").scan()[0].cache == recorded
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO t (b) VALUES ('new')")
    conn.commit()
    assert SqliteReader(db, tmp_path / "scratch").scan()[0].cache != recorded
    conn.close()


def test_a_wal_with_frames_is_read_through_a_consistent_copy(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    make_db(db, wal=True)
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO t (b) VALUES ('in the wal only')")
    writer.commit()
    assert (tmp_path / "reg.db-wal").stat().st_size > 0
    data, _ = read(SqliteReader(db, tmp_path / "scratch"))
    writer.close()
    copy = tmp_path / "copy.db"
    copy.write_bytes(data)
    restored = sqlite3.connect(copy)
    assert restored.execute("SELECT count(*) FROM t").fetchone() == (2001,)
    assert restored.execute("SELECT b FROM t ORDER BY a DESC LIMIT 1").fetchone() == ("in the wal only",)
    assert list((tmp_path / "scratch").iterdir()) == []  # the temporary copy is gone


def test_a_rollback_journal_database_is_read_in_place(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    make_db(db, wal=False)
    data, recorded = read(SqliteReader(db, tmp_path / "scratch"))
    assert data == db.read_bytes()
    assert SqliteReader(db, tmp_path / "scratch").scan()[0].cache == recorded
