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

A tracker parses a generation once: each round reads only the frames appended since the previous
one (the guard below keeps those it parsed from changing), so a round costs the new frames and
the changed pages' reads, never the database's size nor the whole log. Pure Python: the checksum
is a sum over 32-bit words (about 19 MiB/s here).

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

import hashlib
import logging
import os
import sqlite3
import struct
from collections.abc import Iterable, Iterator
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


def parse_wal(f: BinaryIO, resume: WalScan | None = None) -> WalScan:
    """Parse the WAL open in ``f`` into its committed content.

    ``resume``: an earlier parse of the same file; when the header still has its salts, only the
    frames after its last commit are read (the frames before are taken as they were: a caller
    holding a read transaction on them knows the log cannot restart under them) and the result is
    a new scan that extends it. Raises :class:`WalUnusable` when the header is absent or invalid:
    then the log holds no frame SQLite would read either, and the caller falls back to a full read.
    """
    f.seek(0)
    big, page_size, salts, running = _header(f.read(HEADER))
    frame_size = FRAME_HEADER + page_size
    resumable = resume is not None and resume.frames and (resume.salts, resume.page_size) == (salts, page_size)
    if resume is not None and resumable and os.fstat(f.fileno()).st_size >= HEADER + resume.frames * frame_size:
        scan = WalScan(page_size, salts, resume.db_pages, dict(resume.latest), list(resume.page_at), list(resume.chain))
        running = scan.checksum
        offset = HEADER + scan.frames * frame_size
        f.seek(offset)
    else:
        scan = WalScan(page_size, salts)
        offset = HEADER
    pending: list[tuple[int, int, tuple[int, int]]] = []  # (page, page offset, checksum) after the last commit
    while True:
        frame = f.read(frame_size)
        if len(frame) < frame_size:
            break
        pgno, commit, salt1, salt2, c0, c1 = struct.unpack(">6I", frame[:FRAME_HEADER])
        if pgno == 0 or (salt1, salt2) != salts:
            break
        running = checksum(frame[FRAME_HEADER:], big, *checksum(frame[:8], big, *running))
        if running != (c0, c1):
            break
        pending.append((pgno, offset + FRAME_HEADER, running))
        offset += frame_size
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


def fingerprint(path: Path) -> tuple[int, ...]:
    """The files-cache key of a database: its size, mtime, ctime and inode, and its WAL's size,
    mtime and inode (every reader's connection touches the WAL's ctime, so that is left out)."""
    st = os.stat(path)
    key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    try:
        wal = os.stat(f"{path}-wal")
        key += [wal.st_size, wal.st_mtime_ns, wal.st_ino]
    except FileNotFoundError:
        key += [-1, 0, 0]
    return tuple(key)


def content_digest(chunk_ids: Iterable[bytes]) -> bytes:
    """What identifies a snapshot's copy of the database: the ids of its blocks in order (a block's
    id is a keyed hash of its bytes, so equal digests are equal content, whichever packs hold it)."""
    return hashlib.blake2b(b"".join(chunk_ids), digest_size=32).digest()


@dataclass
class TrackedRound:
    """One tracked snapshot's view: the database as of the parsed commit, and the pages written
    since the previous round's (``changed``; every page when the round is a full one).

    ``base`` is the :func:`content_digest` of the snapshot taken at the previous round's commit,
    when the caller said so (:meth:`taken`): a parent snapshot with that content holds every page
    not in ``changed`` exactly as it is now. None: no such snapshot is known, read every page.
    The view also reads as a stream (``read``): the whole database as of the commit, in order.
    """

    page_size: int
    db_pages: int
    changed: set[int]
    full: bool
    base: bytes | None
    fingerprint: tuple[int, ...]  # the files-cache key, taken at the commit (under the write lock)
    _db: BinaryIO
    _wal: BinaryIO | None
    _scan: WalScan | None
    _tracker: WalTracker
    _round: int
    _pos: int = 0

    @property
    def size(self) -> int:
        return self.db_pages * self.page_size

    def _wal_salts(self) -> bytes:
        """The parsed generation's salts as the header stores them (for tests and logs)."""
        return struct.pack(">2I", *self._scan.salts) if self._scan is not None else b""

    def page(self, pgno: int) -> bytes:
        return read_page(self._db, self._wal, self._scan, pgno, self.page_size)

    def read_range(self, start: int, length: int) -> bytes:
        """``length`` bytes of the database from ``start`` (whole pages), as of the commit: one read
        of the file, with the pages whose latest committed frame is in the log read from there."""
        size = self.page_size
        assert start % size == 0, "reads start at a page"
        length = max(0, min(length, self.size - start))
        self._db.seek(start)
        data = bytearray(self._db.read(length))
        data += bytes(length - len(data))
        latest = self._scan.latest if self._scan is not None else {}
        if latest:
            first = start // size + 1
            for pgno in range(first, first + (length + size - 1) // size):
                if pgno in latest:
                    at = (pgno - first) * size
                    data[at : at + size] = self.page(pgno)[: length - at]
        return bytes(data)

    def changed_blocks(self, block: int) -> set[int]:
        """The indexes of the ``block``-byte blocks (a multiple of the page size) holding a page
        written since the base."""
        per = block // self.page_size
        return {(p - 1) // per for p in self.changed}

    def read(self, n: int = -1) -> bytes:
        """The next ``n`` bytes of the database as of the commit (all that is left when ``n`` < 0)."""
        end = self.size if n < 0 else min(self.size, self._pos + n)
        if end <= self._pos:
            return b""
        first = self._pos - self._pos % self.page_size
        data = self.read_range(first, end - first)[self._pos - first :]
        self._pos = end
        return data

    def taken(self, digest: bytes) -> None:
        """A snapshot of this round's content was made (``digest``: its :func:`content_digest`):
        the next round's changes are relative to it. Ignored once a later round began."""
        self._tracker._taken(self._round, digest)


class WalTracker:
    """Tracks one WAL-mode SQLite registry across rounds of the continuous replicator (in memory).

    A round takes the write lock (``BEGIN IMMEDIATE``: the application's writers wait the few ms
    of the parse), parses the WAL's new frames, opens the new *guard* (a read transaction on its own
    connection, whose snapshot is therefore exactly the parsed commit), then releases the write lock
    and closes the previous guard. While a guard is open, no checkpoint can copy a frame it does not
    see into the database file (a reader on read mark 0 blocks every backfill; one on a mark > 0
    blocks it past its frame and every WAL restart), so the pages are read after the write lock is
    released: from their latest parsed frame, else from the database file, both stable under the
    guard. :meth:`release` drops the guard (the next round is a full one), so that a registry whose
    rounds stop, because every store is down, does not keep the application's log from being
    checkpointed.

    SQLite's locks are POSIX record locks, which a process loses on a file as soon as it closes
    *any* descriptor of that file. A descriptor of the database opened and closed beside the guard
    would silently drop the guard's locks: another process's connection closing would then think
    itself the last one, checkpoint the whole log into the file and delete it, and the next round
    would miss those changes. So while the tracker exists, its process reads the database file only
    through the one descriptor the tracker keeps open (:meth:`read_header`, the rounds' reads),
    which it closes only after the guard.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._guard: sqlite3.Connection | None = None
        self._scan: WalScan | None = None
        self._position: WalPosition | None = None
        self._page_size: int | None = None
        self._rounds = 0
        self._base: bytes | None = None  # content digest of the snapshot taken at _position
        self._fd = -1  # the database file, open for as long as a guard may be (see above)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)

    def _parse(self, resume: WalScan | None) -> WalScan | None:
        try:
            with open(f"{self.path}-wal", "rb") as f:
                return parse_wal(f, resume)
        except FileNotFoundError:
            return None
        except WalUnusable:
            if os.path.getsize(f"{self.path}-wal") == 0:
                return None  # truncated by a checkpoint: every page is in the database file
            raise

    def _file(self) -> int:
        """The tracker's descriptor of the database file, (re)opened when the path names another file."""
        if self._fd >= 0 and os.fstat(self._fd).st_ino != os.stat(self.path).st_ino:
            self.release()  # replaced: the guard and the descriptor belong to the old file
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        return self._fd

    def read_header(self, n: int = 100) -> bytes:
        """The first ``n`` bytes of the database file, read without dropping the guard's locks."""
        return os.pread(self._file(), n, 0)

    def _why_not_incremental(self, page_size: int) -> str | None:
        # A replaced database file has no guard: _file() released it on seeing another inode.
        if self._guard is None:
            return "no guard yet"
        if page_size != self._page_size:
            return "the page size changed"
        return None

    def _taken(self, round_: int, digest: bytes) -> None:
        if round_ == self._rounds:
            self._base = digest

    @contextmanager
    def round(self) -> Iterator[TrackedRound]:
        """The round's view, valid inside the block; afterwards the new guard stays open."""
        fd = self._file()
        writer = self._connect()
        try:
            writer.execute("BEGIN IMMEDIATE")
            if str(writer.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                raise WalUnusable("the database is not in WAL mode")
            page_size = int(writer.execute("PRAGMA page_size").fetchone()[0])
            db_pages = int(writer.execute("PRAGMA page_count").fetchone()[0])
            reason = self._why_not_incremental(page_size)
            scan = self._parse(self._scan if reason is None else None)
            changed: set[int] | None = None
            if reason is None:
                changed = scan.changed_since(self._position) if scan is not None else set()
                if changed is None:
                    reason = "the WAL is not an append to the one last parsed"
            if scan is not None and scan.db_pages is not None and scan.db_pages != db_pages:
                raise WalUnusable(f"the WAL's last commit has {scan.db_pages} pages, SQLite reads {db_pages}")
            noted = fingerprint(self.path)
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
        base, self._base = (self._base if reason is None else None), None
        self._rounds += 1
        self._scan, self._position = scan, (scan.position if scan is not None else None)
        self._page_size = page_size
        with open(fd, "rb", buffering=0, closefd=False) as db, _maybe_open(f"{self.path}-wal" if scan else None) as wal:
            yield TrackedRound(
                page_size, db_pages, changed, reason is not None, base, noted, db, wal, scan, self, self._rounds
            )

    def release(self) -> None:
        """Drop the guard: the application's checkpoints are free again; the next round is full."""
        if self._guard is not None:
            self._guard.close()
            self._guard = None
        if self._fd >= 0:
            os.close(self._fd)  # after the guard: its locks go with it, not before
            self._fd = -1
        self._scan = self._position = self._base = None

    close = release


@contextmanager
def _maybe_open(path: str | None) -> Iterator[BinaryIO | None]:
    if path is None:
        yield None
        return
    with open(path, "rb") as f:
        yield f
