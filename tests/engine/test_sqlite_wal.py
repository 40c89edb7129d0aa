"""The WAL parser against SQLite itself: what it reconstructs is what SQLite's own recovery reads."""

from __future__ import annotations

import contextlib
import queue
import random
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from replication.readers.sqlite_wal import (
    TrackedRound,
    WalPosition,
    WalScan,
    WalTracker,
    WalUnusable,
    parse_wal,
    read_page,
)


def reconstruct(db: Path, wal: Path) -> tuple[bytes, WalScan | None]:
    """The database as of the WAL's last commit, built from the parse alone."""
    try:
        with wal.open("rb") as w:
            scan: WalScan | None = parse_wal(w)
    except (WalUnusable, FileNotFoundError):
        scan = None
    if scan is None or scan.db_pages is None:
        return db.read_bytes(), scan
    with db.open("rb") as d, wal.open("rb") as w:
        return b"".join(read_page(d, w, scan, p, scan.page_size) for p in range(1, scan.db_pages + 1)), scan


def sqlite_reads(db: Path, wal: Path, cut: int | None, into: Path) -> bytes:
    """What SQLite recovers from copies of ``db`` and ``wal`` (cut to ``cut`` bytes): checkpointed
    into the database file by SQLite itself."""
    into.mkdir()
    shutil.copyfile(db, into / "c.db")
    if wal.exists():
        data = wal.read_bytes()
        (into / "c.db-wal").write_bytes(data if cut is None else data[:cut])
    conn = sqlite3.connect(into / "c.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return (into / "c.db").read_bytes()


def wal_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=0.2)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY, b BLOB)")
    conn.commit()
    return conn


def random_transaction(conn: sqlite3.Connection, rng: random.Random) -> None:
    kind = rng.random()
    if kind < 0.5:
        conn.executemany(
            "INSERT INTO t (b) VALUES (?)",
            [(rng.randbytes(rng.randrange(10, 3000)),) for _ in range(rng.randrange(1, 20))],
        )
    elif kind < 0.75:
        conn.execute("UPDATE t SET b = ? WHERE a % ? = 0", (rng.randbytes(rng.randrange(10, 500)), rng.randrange(2, 9)))
    elif kind < 0.95:
        conn.execute("DELETE FROM t WHERE a % ? = 0", (rng.randrange(2, 12),))
    else:
        conn.execute("VACUUM")  # the database shrinks: the commit frame's size goes down
    conn.commit()


def test_reconstruction_equals_sqlite_recovery_through_random_transactions(tmp_path: Path) -> None:
    rng = random.Random(1307)
    db, wal = tmp_path / "reg.db", tmp_path / "reg.db-wal"
    writer = wal_db(db)
    previous, position = reconstruct(db, wal)[0], None
    generations = set()
    for round_ in range(40):
        for _ in range(rng.randrange(1, 4)):
            random_transaction(writer, rng)
        if rng.random() < 0.25:
            writer.execute(f"PRAGMA wal_checkpoint({rng.choice(['PASSIVE', 'RESTART', 'TRUNCATE'])})")
        ours, scan = reconstruct(db, wal)
        assert ours == sqlite_reads(db, wal, None, tmp_path / f"ref{round_}")
        if scan is not None:
            generations.add(scan.salts)
            changed = scan.changed_since(position)
            assert changed is not None
            page = scan.page_size
            differ = {
                p + 1
                for p in range(len(ours) // page)
                if ours[p * page : (p + 1) * page] != previous[p * page : (p + 1) * page]
            }
            if scan.salts == (position.salts if position else None):
                assert differ <= changed  # every page that changed is among those the frames name
            position = scan.position
        previous = ours
    writer.close()
    assert len(generations) > 2  # the WAL restarted more than once along the way


def test_a_torn_or_uncommitted_tail_is_ignored_as_sqlite_ignores_it(tmp_path: Path) -> None:
    rng = random.Random(29)
    db, wal = tmp_path / "reg.db", tmp_path / "reg.db-wal"
    writer = wal_db(db)
    for _ in range(25):
        random_transaction(writer, rng)
    full = wal.read_bytes()
    for i in range(12):
        cut = rng.randrange(0, len(full))
        part = tmp_path / f"cut{i}"
        part.mkdir()
        shutil.copyfile(db, part / "c.db")
        (part / "c.db-wal").write_bytes(full[:cut])
        ours, _ = reconstruct(part / "c.db", part / "c.db-wal")
        assert ours == sqlite_reads(db, wal, cut, tmp_path / f"ref{i}")
    writer.close()


def test_a_changed_log_under_the_same_salts_is_not_taken_for_an_append(tmp_path: Path) -> None:
    db, wal = tmp_path / "reg.db", tmp_path / "reg.db-wal"
    writer = wal_db(db)
    with wal.open("rb") as f:
        scan = parse_wal(f)
    assert scan.changed_since(WalPosition(scan.salts, scan.frames + 1, scan.checksum)) is None
    assert scan.changed_since(WalPosition(scan.salts, scan.frames, (1, 2))) is None
    assert scan.changed_since(scan.position) == set()
    writer.close()


def test_a_bad_header_is_refused_with_its_reason(tmp_path: Path) -> None:
    wal = tmp_path / "x-wal"
    wal.write_bytes(b"\x37\x7f\x06\x82" + bytes(28))
    with wal.open("rb") as f, pytest.raises(WalUnusable, match="format version"):
        parse_wal(f)


def apply(image: bytearray, view: TrackedRound) -> bytearray:
    """The previous round's image with this round's changed pages written in: what a tracked
    snapshot holds (its unchanged pages come from the parent)."""
    size = view.page_size
    image = bytearray(image[: view.db_pages * size]) + bytes(max(0, view.db_pages * size - len(image)))
    for p in view.changed:
        if p <= view.db_pages:
            image[(p - 1) * size : p * size] = view.page(p)
    return image


def test_tracked_rounds_rebuild_the_database_exactly_across_checkpoints_and_restarts(tmp_path: Path) -> None:
    rng = random.Random(77)
    db, wal = tmp_path / "reg.db", tmp_path / "reg.db-wal"
    app = wal_db(db)
    tracker = WalTracker(db)
    image = bytearray()
    fulls, read = [], 0
    salts = set()
    try:
        for round_ in range(30):
            # A checkpoint backfills the WAL up to the guard's frame. A round with no write before
            # it then finds the WAL fully backfilled: its guard reads on mark 0, and the next write
            # restarts the log, overwriting the frames the previous round parsed.
            if rng.random() < 0.4:  # the guard may make RESTART/TRUNCATE busy: then it is partial
                app.execute(f"PRAGMA wal_checkpoint({rng.choice(['PASSIVE', 'RESTART', 'TRUNCATE'])})").fetchall()
            for _ in range(rng.choice([0, 1, 2])):
                random_transaction(app, rng)
            with tracker.round() as view:
                image = apply(image, view)
                fulls.append(view.full)
                read += 0 if view.full else len(view.changed)
            if wal.exists() and wal.stat().st_size >= 32:
                salts.add(wal.read_bytes()[16:24])
            assert bytes(image) == sqlite_reads(db, wal, None, tmp_path / f"ref{round_}")
    finally:
        tracker.close()
        app.close()
    assert fulls[0] and not any(fulls[1:])  # only the first round had no guard
    assert len(salts) > 1  # the WAL restarted between rounds
    assert read < 30 * len(image) // 4096  # fewer pages than a full read each round


def test_a_replaced_database_is_read_in_full(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    wal_db(db).close()
    tracker = WalTracker(db)
    try:
        with tracker.round() as view:
            assert view.full
        other = tmp_path / "other.db"
        conn = wal_db(other)
        conn.execute("INSERT INTO t (b) VALUES (x'00')")
        conn.commit()
        conn.close()
        other.replace(db)
        with tracker.round() as view:
            assert view.full and view.changed == set(range(1, view.db_pages + 1))
    finally:
        tracker.close()


def test_the_guard_does_not_stop_the_apps_writers(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    app = wal_db(db)
    app.execute("PRAGMA busy_timeout=0")
    tracker = WalTracker(db)
    try:
        with tracker.round():
            pass
        for i in range(50):
            app.execute("INSERT INTO t (b) VALUES (?)", (bytes(i),))
            app.commit()
        assert app.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0  # not busy
        assert app.execute("SELECT count(*) FROM t").fetchone() == (50,)
    finally:
        tracker.close()
        app.close()


BATCH = 30
PREFILL = 2000


def test_rounds_under_a_writer_thread_restore_a_commit_point(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    with contextlib.closing(wal_db(db)) as conn, conn:  # a database much larger than a round's changes
        conn.executemany("INSERT INTO t (a, b) VALUES (?, ?)", ((a, bytes(a % 700)) for a in range(1, PREFILL + 1)))
    stop = threading.Event()
    go = threading.Semaphore(0)  # one batch of commits per release
    done: queue.Queue[int] = queue.Queue()  # the number of commits after each batch
    commits: list[int] = []

    def write() -> None:
        conn = sqlite3.connect(db, timeout=10)
        conn.execute("PRAGMA wal_autocheckpoint=50")
        n = PREFILL
        while not stop.is_set():
            if not go.acquire(timeout=0.05):
                continue
            for _ in range(BATCH):
                n += 1
                conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (n, bytes(n % 700)))
                conn.commit()
                commits.append(n)
            done.put(n)
        conn.close()

    writer = threading.Thread(target=write)
    tracker = WalTracker(db)
    image = bytearray()
    pages_read = pages_held = released = finished = 0
    writer.start()
    try:
        for round_ in range(8):
            if round_:  # a batch wholly after the previous round: this one has changes to find
                go.release()
                released += 1
                while finished < released:  # every batch released so far is committed
                    done.get(timeout=30)
                    finished += 1
            go.release()  # and a batch written while this round reads
            released += 1
            with tracker.round() as view:
                image = apply(image, view)
                assert round_ == 0 or not view.full
                if round_:
                    assert view.changed
                    pages_read, pages_held = pages_read + len(view.changed), pages_held + view.db_pages
            copy = tmp_path / f"r{round_}.db"
            copy.write_bytes(image)
            conn = sqlite3.connect(copy)
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows = conn.execute("SELECT a, b FROM t ORDER BY a").fetchall()
            conn.close()
            assert rows == [(a, bytes(a % 700)) for a in range(1, len(rows) + 1)]  # one commit point
    finally:
        stop.set()
        writer.join(30)
        tracker.close()
    assert not writer.is_alive()
    assert len(commits) > 7 * BATCH
    assert 0 < pages_read < pages_held // 2  # the rounds after the first read only what changed


def test_a_log_restarted_under_a_round_reads_its_pages_from_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    app = wal_db(db)
    app.executemany("INSERT INTO t (b) VALUES (?)", [(bytes([i]) * 900,) for i in range(60)])
    app.commit()
    tracker = WalTracker(db)
    try:
        with tracker.round():
            pass
        app.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # every frame into the file
        with tracker.round() as view:  # the guard now reads on mark 0: the log may restart
            before = [view.page(p) for p in range(1, view.db_pages + 1)]
            assert view._scan is not None and view._scan.latest  # pages still in the log's frames
            app.execute("UPDATE t SET b = ?", (b"overwrites the log's first frames" * 20,))
            app.commit()
            assert (tmp_path / "reg.db-wal").read_bytes()[16:24] != view._wal_salts()
            assert [view.page(p) for p in range(1, view.db_pages + 1)] == before
    finally:
        tracker.close()
        app.close()


def test_a_round_reads_as_a_stream_the_database_its_pages_make(tmp_path: Path) -> None:
    """What SqliteReader.open gives any reader of it (the live comparison reads it as a stream):
    the same bytes, in reads of any length, as the pages of the commit one by one."""
    rng = random.Random(3)
    db = tmp_path / "reg.db"
    app = wal_db(db)
    for _ in range(12):
        random_transaction(app, rng)
    tracker = WalTracker(db)
    try:
        with tracker.round() as view:
            pages = b"".join(view.page(p) for p in range(1, view.db_pages + 1))
            parts = []
            while part := view.read(rng.randrange(1, 3 * view.page_size)):
                parts.append(part)
            assert b"".join(parts) == pages and len(pages) == view.size
            assert view.read_range(view.page_size, 2 * view.page_size) == pages[view.page_size : 3 * view.page_size]
        assert pages == sqlite_reads(db, tmp_path / "reg.db-wal", None, tmp_path / "ref")
    finally:
        tracker.close()
        app.close()
