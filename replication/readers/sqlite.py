"""A SQLite database as a registry: a consistent copy through SQLite's online backup API.

When the database file itself is a consistent view under a read transaction (rollback-journal
mode, where the transaction's lock holds writers back; or WAL mode with an empty WAL), the file is
read directly under that transaction: no copy. Otherwise the backup API copies every page under
one read transaction (``pages=-1``) into a private temporary file (mode 0600) in the engine's
scratch folder, removed as soon as it has been read: the database as of one commit even while the
application keeps writing.

Databases change pages in place, so they are cut into fixed, page-aligned blocks rather than
content-defined chunks: a changed page costs one small block, not a ~1 MiB chunk. When neither
the database file nor its WAL changed since the previous snapshot (size, mtime, ctime, inode),
the copy is skipped and the previous snapshot's blocks are reused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from replication.errors import RegistryReadError
from replication.readers.base import Chunking, ScanItem

BLOCK = 16 << 10


def _fingerprint(path: Path) -> tuple[int, ...]:
    """The files-cache key: the database's size, mtime, ctime and inode, and its WAL's size, mtime
    and inode (every reader's connection touches the WAL's ctime, so that is left out)."""
    st = os.stat(path)
    key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    try:
        wal = os.stat(f"{path}-wal")
        key += [wal.st_size, wal.st_mtime_ns, wal.st_ino]
    except FileNotFoundError:
        key += [-1, 0, 0]
    return tuple(key)


class SqliteReader:
    def __init__(self, path: Path, scratch: Path, block: int = BLOCK) -> None:
        self.path = path
        self.scratch = scratch
        self.block = block
        self.chunking = Chunking("fixed", block)
        self._copy: Path | None = None

    def scan(self) -> list[ScanItem]:
        try:
            st = os.stat(self.path)
        except OSError as e:
            raise RegistryReadError(f"{self.path}: cannot read the database: {e.strerror}") from e
        if not stat.S_ISREG(st.st_mode):
            raise RegistryReadError(f"{self.path}: is not a file")
        with self.path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00" and st.st_size:
                raise RegistryReadError(f"{self.path}: is not a SQLite database")
        return [
            ScanItem(
                self.path.name,
                "file",
                stat.S_IMODE(st.st_mode),
                st.st_mtime_ns,
                st.st_size,
                cache=_fingerprint(self.path),
            )
        ]

    def _make_copy(self) -> Path:
        self.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix="sqlite-", suffix=".db", dir=self.scratch)
        os.close(fd)
        copy = Path(name)
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
            copy.unlink(missing_ok=True)
            raise RegistryReadError(f"{self.path}: consistent copy failed: {e}") from e
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
        fingerprint = _fingerprint(self.path)
        view = self._direct_view()
        if view is not None:
            # Taken under the read transaction: opening it may have created an empty WAL, which
            # would otherwise make the next backup see a change that is not one.
            fingerprint = _fingerprint(self.path)
            try:
                with self.path.open("rb", buffering=0) as f:
                    st = os.fstat(f.fileno())
                    now = ScanItem(
                        item.path, "file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size, cache=fingerprint
                    )
                    yield f, now
            finally:
                view.close()
            return
        copy = self._make_copy()
        self._copy = copy
        try:
            st = os.stat(copy)
            src = os.stat(self.path)
            now = ScanItem(item.path, "file", stat.S_IMODE(src.st_mode), src.st_mtime_ns, st.st_size, cache=fingerprint)
            with copy.open("rb", buffering=0) as f:
                yield f, now
        finally:
            copy.unlink(missing_ok=True)
            self._copy = None

    def close(self) -> None:
        if self._copy is not None:
            with contextlib.suppress(FileNotFoundError):
                self._copy.unlink()
