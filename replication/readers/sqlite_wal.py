"""A reader of SQLite's write-ahead log: which pages changed, and where their committed bytes are.

This is the exact method behind change-proportional SQLite snapshots (issue 13): rather than
copying the whole database, a tracked snapshot reads only the pages written since the previous
one. The pages come from the ``-wal`` file, parsed here the way SQLite's own recovery parses it
(https://www.sqlite.org/fileformat2.html#walformat):

* a 32-byte header: magic ``0x377f0682`` / ``0x377f0683`` (its low bit says whether checksums
  are summed over big- or little-endian words), format version, page size, checkpoint sequence,
  two salts and a checksum of the header's first 24 bytes;
* frames of a 24-byte header (page number, database size in pages after a commit or 0, the two
  salts, a cumulative checksum over every frame so far) and one page.

A frame is valid only when its salts equal the header's and its checksum continues the chain; the
first invalid frame ends the log (what follows is a torn write or an older generation's leftover).
The committed state ends at the last valid commit frame (non-zero database size): frames after it
belong to a transaction still being written and are ignored, as SQLite's readers ignore them.

The whole generation is parsed each time (the latest frame of every page is needed, not only the
new ones), so a round costs the WAL's size, which checkpoints bound, and the changed pages' reads;
never the database's size. Pure Python: the checksum is a sum over 32-bit words.

:class:`WalTracker` keeps, between the rounds of one process (the continuous replicator), a
*guard*: an open read transaction whose snapshot is the last parsed commit. It keeps SQLite from
backfilling any frame it has not seen into the database file and from restarting the log under a
frame it has seen, so the next round's new frames are exactly the pages changed since; a log
restarted with new salts can only have been one whose every frame was parsed and checkpointed.
The guard costs the application nothing for its writes and PASSIVE checkpoints (the default
auto-checkpoint); an explicit RESTART or TRUNCATE checkpoint of the application's waits for it (or
stops partial at its busy timeout) until the next round moves the guard. Anything the tracker
cannot account for (no guard yet, a replaced file, another page size, a log that is not an append
to the one it parsed) makes a full round, logged at debug level with its reason.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from replication.errors import RegistryReadError

log = logging.getLogger(__name__)

MAGIC_LE = 0x377F0682  # checksums over little-endian words
MAGIC_BE = 0x377F0683  # checksums over big-endian words
VERSION = 3007000
HEADER = 32
FRAME_HEADER = 24
MASK = 0xFFFFFFFF


class WalUnusable(RegistryReadError):
    """The WAL cannot be used for an exact incremental read; the message says why."""


def checksum(data: bytes, big_endian: bool, s0: int = 0, s1: int = 0) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes), continuing from ``(s0, s1)``."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & MASK
        s1 = (s1 + words[i + 1] + s0) & MASK
    return s0, s1


@dataclass(frozen=True)
class WalPosition:
    """Where a previous parse's committed state ended: the generation's salts, the number of
    committed frames and the running checksum after the last of them."""

    salts: tuple[int, int]
    frames: int
    checksum: tuple[int, int]


@dataclass
class WalScan:
    """The committed content of one WAL generation."""

    page_size: int
    salts: tuple[int, int]
    db_pages: int | None = None  # the database's size in pages at the last commit; None: no commit
    latest: dict[int, int] = field(default_factory=dict)  # page number -> offset of its page bytes
    page_at: list[int] = field(default_factory=list)  # page number of each committed frame
    chain: list[tuple[int, int]] = field(default_factory=list)  # running checksum after each of them

    @property
    def frames(self) -> int:
        """How many frames are committed."""
        return len(self.page_at)

    @property
    def checksum(self) -> tuple[int, int]:
        """The running checksum after the last committed frame."""
        return self.chain[-1] if self.chain else (0, 0)

    @property
    def position(self) -> WalPosition:
        return WalPosition(self.salts, self.frames, self.checksum)

    def changed_since(self, since: WalPosition | None) -> set[int] | None:
        """The pages written by frames committed after ``since``; None when they cannot be told
        exactly (another generation only counts as "every frame of it" — see the caller)."""
        if since is None or since.salts != self.salts:
            return set(self.page_at)
        if since.frames > self.frames:
            return None  # the log went backwards under the same salts: not an append
        if since.frames and self.chain[since.frames - 1] != since.checksum:
            return None
        return set(self.page_at[since.frames :])


def _header(raw: bytes) -> tuple[bool, int, tuple[int, int], tuple[int, int]]:
    if len(raw) < HEADER:
        raise WalUnusable("the WAL header is incomplete")
    magic, version, page_size, _seq, salt1, salt2, c0, c1 = struct.unpack(">8I", raw[:HEADER])
    if magic not in (MAGIC_LE, MAGIC_BE):
        raise WalUnusable(f"bad WAL magic {magic:#x}")
    big = magic == MAGIC_BE
    if version != VERSION:
        raise WalUnusable(f"unknown WAL format version {version}")
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise WalUnusable(f"bad WAL page size {page_size}")
    if checksum(raw[:24], big) != (c0, c1):
        raise WalUnusable("bad WAL header checksum")
    return big, page_size, (salt1, salt2), (c0, c1)


def parse_wal(f: BinaryIO) -> WalScan:
    """Parse the WAL open in ``f`` (from its start) into its committed content.

    Raises :class:`WalUnusable` when the header is absent or invalid: then the log holds no frame
    SQLite would read either, and the caller falls back to a full read.
    """
    f.seek(0)
    big, page_size, salts, running = _header(f.read(HEADER))
    scan = WalScan(page_size, salts)
    pending: list[tuple[int, int, tuple[int, int]]] = []  # (page, page offset, checksum) after the last commit
    offset = HEADER
    size = FRAME_HEADER + page_size
    while True:
        frame = f.read(size)
        if len(frame) < size:
            break
        pgno, commit, salt1, salt2, c0, c1 = struct.unpack(">6I", frame[:FRAME_HEADER])
        if pgno == 0 or (salt1, salt2) != salts:
            break
        running = checksum(frame[FRAME_HEADER:], big, *checksum(frame[:8], big, *running))
        if running != (c0, c1):
            break
        pending.append((pgno, offset + FRAME_HEADER, running))
        offset += size
        if commit:
            for page, at, chained in pending:
                scan.latest[page] = at
                scan.page_at.append(page)
                scan.chain.append(chained)
            scan.db_pages = commit
            pending.clear()
    return scan


def read_page(db: BinaryIO, wal: BinaryIO | None, scan: WalScan | None, pgno: int, page_size: int) -> bytes:
    """Page ``pgno`` (from 1) as of the scan's commit: its latest committed WAL frame, else the
    database file's page (zeros past the file's end, as a page never written reads)."""
    at = scan.latest.get(pgno) if scan is not None else None
    if at is not None and scan is not None and wal is not None:
        wal.seek(at)
        data = wal.read(page_size)
        # Read after the page: SQLite writes a frame's header before its page, so a header still
        # ours means the page was read before any overwrite. Another header means the log was
        # restarted, which it only is once every frame is in the database file: read it there.
        wal.seek(at - FRAME_HEADER)
        head = wal.read(16)
        if len(data) == page_size and len(head) == 16:
            pg, _commit, salt1, salt2 = struct.unpack(">4I", head)
            if pg == pgno and (salt1, salt2) == scan.salts:
                return data
    db.seek((pgno - 1) * page_size)
    data = db.read(page_size)
    return data + bytes(page_size - len(data))


@dataclass
class TrackedRound:
    """One tracked snapshot's view: the database as of the parsed commit, and the pages written
    since the previous round's (``changed``; every page when the round is a full one)."""

    page_size: int
    db_pages: int
    changed: set[int]
    full: bool
    _db: BinaryIO
    _wal: BinaryIO | None
    _scan: WalScan | None

    def _wal_salts(self) -> bytes:
        """The parsed generation's salts as the header stores them (for tests and logs)."""
        return struct.pack(">2I", *self._scan.salts) if self._scan is not None else b""

    def page(self, pgno: int) -> bytes:
        return read_page(self._db, self._wal, self._scan, pgno, self.page_size)


class WalTracker:
    """Tracks one WAL-mode SQLite registry across rounds of the continuous replicator (in memory).

    A round takes the write lock (``BEGIN IMMEDIATE``: the application's writers wait the few ms
    of the parse), parses the WAL, opens the new *guard* (a read transaction on its own connection,
    whose snapshot is therefore exactly the parsed commit), then releases the write lock and closes
    the previous guard. While a guard is open, no checkpoint can copy a frame it does not see into
    the database file (a reader on read mark 0 blocks every backfill; one on a mark > 0 blocks it
    past its frame and every WAL restart), so the pages are read after the write lock is released:
    from their latest parsed frame, else from the database file, both stable under the guard.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._guard: sqlite3.Connection | None = None
        self._position: WalPosition | None = None
        self._inode: int | None = None
        self._page_size: int | None = None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)

    def _parse(self) -> WalScan | None:
        try:
            with open(f"{self.path}-wal", "rb") as f:
                return parse_wal(f)
        except FileNotFoundError:
            return None
        except WalUnusable:
            if os.path.getsize(f"{self.path}-wal") == 0:
                return None  # truncated by a checkpoint: every page is in the database file
            raise

    def _why_not_incremental(self, inode: int, page_size: int) -> str | None:
        if self._guard is None or self._inode is None:
            return "no guard yet"
        if inode != self._inode:
            return "the database file was replaced"
        if page_size != self._page_size:
            return "the page size changed"
        return None

    @contextmanager
    def round(self) -> Iterator[TrackedRound]:
        """The round's view, valid inside the block; afterwards the new guard stays open."""
        writer = self._connect()
        try:
            writer.execute("BEGIN IMMEDIATE")
            if str(writer.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                raise WalUnusable("the database is not in WAL mode")
            page_size = int(writer.execute("PRAGMA page_size").fetchone()[0])
            db_pages = int(writer.execute("PRAGMA page_count").fetchone()[0])
            scan = self._parse()
            inode = os.stat(self.path).st_ino
            reason = self._why_not_incremental(inode, page_size)
            changed: set[int] | None = None
            if reason is None:
                changed = scan.changed_since(self._position) if scan is not None else set()
                if changed is None:
                    reason = "the WAL is not an append to the one last parsed"
            if scan is not None and scan.db_pages is not None and scan.db_pages != db_pages:
                raise WalUnusable(f"the WAL's last commit has {scan.db_pages} pages, SQLite reads {db_pages}")
            guard = self._connect()
            guard.execute("BEGIN")
            guard.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            writer.close()  # rolls the empty write transaction back: the app's writers go on
        old, self._guard = self._guard, guard
        if old is not None:
            old.close()
        if reason is not None:
            log.debug("%s: full read of the database: %s", self.path, reason)
            changed = set(range(1, db_pages + 1))
        assert changed is not None
        self._position = scan.position if scan is not None else None
        self._inode, self._page_size = inode, page_size
        with open(self.path, "rb") as db, _maybe_open(f"{self.path}-wal" if scan else None) as wal:
            yield TrackedRound(page_size, db_pages, changed, reason is not None, db, wal, scan)

    def close(self) -> None:
        if self._guard is not None:
            self._guard.close()
            self._guard = None


@contextmanager
def _maybe_open(path: str | None) -> Iterator[BinaryIO | None]:
    if path is None:
        yield None
        return
    with open(path, "rb") as f:
        yield f
