"""A SQLite database as a registry: a consistent copy through SQLite's online backup API.

When the database file itself is a consistent view under a read transaction (rollback-journal
mode, where the transaction's lock holds writers back; or WAL mode with an empty WAL), the file is
read directly under that transaction: no copy. Otherwise the backup API copies every page under
one read transaction (``pages=-1``) into a private temporary file (mode 0600) in the engine's
scratch folder, removed as soon as it has been read: the database as of one commit even while the
application keeps writing. The copy is held under an exclusive ``flock`` for as long as it exists,
so a copy left by a run that was killed (``kill -9``) is told from one in use: the next backup
removes every ``sqlite-*.db`` in the scratch folder whose lock it can take
(:func:`remove_stale_copies`).

Databases change pages in place, so they are cut into fixed, page-aligned blocks rather than
content-defined chunks: a changed page costs one small block, not a ~1 MiB chunk. When neither
the database file nor its WAL changed since the previous snapshot (size, mtime, ctime, inode),
the copy is skipped and the previous snapshot's blocks are reused.

A reader given a :class:`~replication.readers.sqlite_wal.WalTracker` (the continuous replicator
keeps one per registry) reads a WAL-mode database through the tracker's round instead: no copy,
the database as of the round's commit, and the pages changed since the previous round, which the
backup uses to read only their blocks (replication/backup.py, ``_tracked_batches``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO, cast

from replication.errors import RegistryReadError
from replication.readers.base import Chunking, ScanItem
from replication.readers.sqlite_wal import WalTracker, WalUnusable, fingerprint

log = logging.getLogger(__name__)

BLOCK = 16 << 10
COPY_PREFIX = "sqlite-"


def locked_temp(scratch: Path) -> tuple[int, Path]:
    """A new empty file in ``scratch``, held under an exclusive flock (the fd holds it)."""
    while True:
        fd, name = tempfile.mkstemp(prefix=COPY_PREFIX, suffix=".db", dir=scratch)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # a cleaner may have removed it between its creation and the lock: then make another
            if os.stat(name).st_ino == os.fstat(fd).st_ino:
                return fd, Path(name)
        except FileNotFoundError:
            pass
        os.close(fd)


def _unlink_copy(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        p.unlink(missing_ok=True)


def remove_stale_copies(scratch: Path) -> list[str]:
    """Remove the database copies in ``scratch`` no running backup holds (left by a killed run);
    returns their names. A copy in use is locked by its reader and stays."""
    removed = []
    try:
        names = sorted(p for p in os.listdir(scratch) if p.startswith(COPY_PREFIX) and p.endswith(".db"))
    except FileNotFoundError:
        return []
    for name in names:
        path = scratch / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                _unlink_copy(path)
                removed.append(name)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)
    return removed


class SqliteReader:
    """``tracker``: the registry's :class:`WalTracker` when the caller keeps one across rounds (the
    continuous replicator): a WAL-mode database is then read through it, with no copy and, when the
    parent snapshot is the one the tracker's previous round made, only the changed blocks."""

    def __init__(self, path: Path, scratch: Path, block: int = BLOCK, tracker: WalTracker | None = None) -> None:
        self.path = path
        self.scratch = scratch
        self.block = block
        self.chunking = Chunking("fixed", block)
        self.tracker = tracker
        self._copy: Path | None = None
        self._copy_fd = -1  # holds the copy's flock while it exists

    def scan(self) -> list[ScanItem]:
        try:
            st = os.stat(self.path)
        except OSError as e:
            raise RegistryReadError(f"{self.path}: cannot read the database: {e.strerror}") from e
        if not stat.S_ISREG(st.st_mode):
            raise RegistryReadError(f"{self.path}: is not a file")
        try:
            if self.tracker is not None:  # its guard's locks would go with any other descriptor closed
                head = self.tracker.read_header(16)
            else:
                with self.path.open("rb") as f:
                    head = f.read(16)
        except OSError as e:
            raise RegistryReadError(f"{self.path}: cannot read the database: {e.strerror}") from e
        if head != b"SQLite format 3\x00" and st.st_size:
            raise RegistryReadError(f"{self.path}: is not a SQLite database")
        return [
            ScanItem(
                self.path.name,
                "file",
                stat.S_IMODE(st.st_mode),
                st.st_mtime_ns,
                st.st_size,
                cache=fingerprint(self.path),
            )
        ]

    def _make_copy(self) -> Path:
        self.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, copy = locked_temp(self.scratch)
        try:
            src = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                page_size = src.execute("PRAGMA page_size").fetchone()[0]
                dst = sqlite3.connect(copy)
                try:
                    src.backup(dst, pages=-1)
                finally:
                    dst.close()
            finally:
                src.close()
        except sqlite3.Error as e:
            _unlink_copy(copy)
            os.close(fd)
            raise RegistryReadError(f"{self.path}: consistent copy failed: {e}") from e
        except BaseException:
            _unlink_copy(copy)
            os.close(fd)
            raise
        self._copy_fd = fd
        self._align(page_size)
        return copy

    def _align(self, page_size: int) -> None:
        if self.block % page_size:
            self.block = max(page_size, self.block - self.block % page_size)
            self.chunking = Chunking("fixed", self.block)

    def _direct_view(self) -> sqlite3.Connection | None:
        """A read transaction under which the database file itself is the consistent view, or None.

        In rollback-journal mode the transaction's SHARED lock keeps every writer from changing the
        file until we are done. In WAL mode the file alone is the database only when the WAL is
        empty: then our read mark is 0 and no checkpoint may copy newer frames into the file while
        we read. Otherwise (frames in the WAL) the backup API's copy is used instead.
        """
        try:
            # Opened and closed by different worker threads of the backup: hence check_same_thread.
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, timeout=30, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error:
            return None
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
            if mode == "wal":
                try:
                    if os.stat(f"{self.path}-wal").st_size > 0:
                        conn.close()
                        return None
                except FileNotFoundError:
                    pass
            if os.stat(self.path).st_size != pages * page_size:
                conn.close()
                return None
            self._align(page_size)
            return conn
        except sqlite3.Error:
            conn.close()
            return None

    @contextmanager
    def open(self, item: ScanItem) -> Iterator[tuple[BinaryIO, ScanItem]]:
        with ExitStack() as stack:
            tracked = None
            if self.tracker is not None:
                try:
                    tracked = stack.enter_context(self.tracker.round())
                except WalUnusable as e:  # not in WAL mode (now): the copy below, as untracked
                    log.debug("%s: not tracked this round: %s", self.path, e)
                    self.tracker.release()
            if tracked is not None:
                self._align(tracked.page_size)
                st = os.stat(self.path)
                now = ScanItem(
                    item.path, "file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, tracked.size, cache=tracked.fingerprint
                )
                yield cast(BinaryIO, tracked), now  # a TrackedRound reads as a stream; the backup knows it
                return
        key = fingerprint(self.path)
        view = self._direct_view()
        if view is not None:
            # Taken under the read transaction: opening it may have created an empty WAL, which
            # would otherwise make the next backup see a change that is not one.
            key = fingerprint(self.path)
            try:
                with self.path.open("rb", buffering=0) as f:
                    st = os.fstat(f.fileno())
                    now = ScanItem(item.path, "file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size, cache=key)
                    yield f, now
            finally:
                view.close()
            return
        copy = self._make_copy()
        self._copy = copy
        try:
            st = os.stat(copy)
            src = os.stat(self.path)
            now = ScanItem(item.path, "file", stat.S_IMODE(src.st_mode), src.st_mtime_ns, st.st_size, cache=key)
            with copy.open("rb", buffering=0) as f:
                yield f, now
        finally:
            self._drop_copy()

    def _drop_copy(self) -> None:
        if self._copy is not None:
            _unlink_copy(self._copy)
            self._copy = None
        if self._copy_fd >= 0:
            os.close(self._copy_fd)  # the lock goes with it, after the file
            self._copy_fd = -1

    def close(self) -> None:
        self._drop_copy()
