"""A SQLite database as a registry: a consistent copy through SQLite's online backup API.

The backup API copies every page under one read transaction (``pages=-1``), so the copy is the
database as of one commit even while the application keeps writing (in WAL mode writers are not
blocked; in rollback-journal mode they wait for the copy, about a second per few hundred MiB).
The copy goes to a private temporary file (mode 0600) in the engine's scratch folder and is
removed as soon as it has been read.

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
        if self.block % page_size:
            self.block = max(page_size, self.block - self.block % page_size)
            self.chunking = Chunking("fixed", self.block)
        return copy

    @contextmanager
    def open(self, item: ScanItem) -> Iterator[tuple[BinaryIO, ScanItem]]:
        fingerprint = _fingerprint(self.path)
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
