"""What a registry reader gives the backup: a consistent list of entries and a way to read files.

A reader's ``scan`` returns every entry of the registry in path order (folders, symlinks, files
with their metadata and files-cache key); ``open`` gives a file's bytes as a stream and, once the
stream is read to the end, ``finish`` says whether what was read is consistent (a file that changed
meanwhile is read again by the backup, or reported). ``chunking`` tells how to cut the bytes.
Readers do blocking I/O and are driven from worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from replication.manifest import TableRows

from replication.errors import RegistryReadError

EntryType = Literal["file", "dir", "symlink"]


@dataclass(frozen=True, slots=True)
class Chunking:
    """``cdc``: content-defined (FastCDC); ``fixed``: fixed-size blocks (databases: pages change in place)."""

    method: Literal["cdc", "fixed"]
    size: int


@dataclass(frozen=True, slots=True)
class ScanItem:
    path: str
    type: EntryType
    mode: int
    mtime_ns: int
    size: int = 0
    target: str = ""
    cache: tuple[int, ...] | None = None


class ChangedWhileReadingError(RegistryReadError):
    """The file changed between the start and the end of reading it."""


class RegistryReader(Protocol):
    chunking: Chunking

    def scan(self) -> list[ScanItem]: ...

    def open(self, item: ScanItem) -> AbstractContextManager[tuple[BinaryIO, ScanItem]]:
        """The file's bytes as a stream, with its metadata as opened (which may be newer than the
        scan's); raises ChangedWhileReadingError on exit if the file changed while it was read."""
        ...

    def close(self) -> None:
        """Release temporary copies and processes."""
        ...


@runtime_checkable
class ChangeTracked(Protocol):
    """What a tracking reader's ``open`` gives instead of a plain stream (sqlite_wal.TrackedRound):
    the file as of one consistent point, which also says which of its bytes changed since the
    snapshot whose content digest is ``base`` (None: unknown, read it all)."""

    size: int
    base: bytes | None

    def read_range(self, start: int, length: int) -> bytes: ...

    def changed_blocks(self, block: int) -> set[int]: ...

    def taken(self, digest: bytes) -> None:
        """A snapshot of this content was made; ``digest`` is its sqlite_wal.content_digest."""
        ...


@runtime_checkable
class CountsRows(Protocol):
    """A reader of a database whose tables' row counts belong in the manifest (see postgres.py)."""

    def row_counts(self) -> tuple[TableRows, ...] | None: ...


def iter_blocks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    while True:
        block = stream.read(size)
        if not block:
            return
        yield block
