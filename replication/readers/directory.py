"""A folder of files as a registry: a walk that keeps metadata and never follows symlinks.

Consistency per file: the file is opened without following links, its fstat before and after the
read must agree (size, mtime, ctime, inode), or the backup reads it again. Symlinks are stored as
links (their target text), never followed, so nothing outside the tree is read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from replication.errors import RegistryReadError
from replication.readers.base import ChangedWhileReadingError, Chunking, ScanItem

CDC = Chunking("cdc", 1 << 20)


def _key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class DirectoryReader:
    chunking = CDC

    def __init__(self, root: Path) -> None:
        self.root = root

    def scan(self) -> list[ScanItem]:
        try:
            st = os.stat(self.root)
        except OSError as e:
            raise RegistryReadError(f"{self.root}: cannot read the registry folder: {e.strerror}") from e
        if not stat.S_ISDIR(st.st_mode):
            raise RegistryReadError(f"{self.root}: is not a folder")
        items: list[ScanItem] = []
        self._walk("", items)
        items.sort(key=lambda i: i.path)
        return items

    def _walk(self, rel: str, items: list[ScanItem]) -> None:
        folder = self.root / rel if rel else self.root
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            raise RegistryReadError(f"{folder}: cannot list: {e.strerror}") from e
        for de in entries:
            path = f"{rel}/{de.name}" if rel else de.name
            try:
                st = de.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since listed
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                items.append(ScanItem(path, "dir", mode, st.st_mtime_ns))
                self._walk(path, items)
            elif stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(de.path)
                except FileNotFoundError:
                    continue
                items.append(ScanItem(path, "symlink", mode, st.st_mtime_ns, target=target))
            elif stat.S_ISREG(st.st_mode):
                items.append(ScanItem(path, "file", mode, st.st_mtime_ns, st.st_size, cache=_key(st)))
            # sockets, fifos and devices are not registry data: skipped

    @contextmanager
    def open(self, item: ScanItem) -> Iterator[tuple[BinaryIO, ScanItem]]:
        path = self.root / item.path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0))
        except PermissionError:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # O_NOATIME needs ownership
        except OSError as e:
            if isinstance(e, FileNotFoundError):
                raise ChangedWhileReadingError(f"{item.path}: removed while reading") from e
            raise RegistryReadError(f"{path}: cannot open: {e.strerror}") from e
        with os.fdopen(fd, "rb", buffering=0) as f:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise ChangedWhileReadingError(f"{item.path}: is no longer a regular file")
            now = ScanItem(
                item.path, "file", stat.S_IMODE(before.st_mode), before.st_mtime_ns, before.st_size, cache=_key(before)
            )
            yield f, now
            after = os.fstat(fd)
            # The path may now name another file; and the file itself must not have changed.
            if _key(before) != _key(after) or after.st_size != f.tell():
                raise ChangedWhileReadingError(f"{item.path}: changed while being read")

    def close(self) -> None:
        pass
