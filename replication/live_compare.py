"""Comparing a verified snapshot with the live registry it was taken from.

A restore has already checked every restored byte against the manifest (AEAD tag, length and keyed
chunk id). So the live registry is compared with the manifest rather than with the restored copy:
a live file is cut at the manifest's chunk lengths and each piece's keyed BLAKE3 must equal the
chunk id. That reads each live file once and never reads the restored copy again; and since the
ids are keyed BLAKE3-256 (collision resistant), equal ids mean equal bytes.

Which live files must match:
- a folder registry's file whose size and mtime are those the snapshot recorded. Anything that
  rewrites a file through the filesystem moves its mtime (or its size), so a difference under an
  unchanged size and mtime is silent corruption (disk, controller, or someone covering tracks) and
  fails the drill, naming the file and the first differing byte. Other files are counted as
  changed since the snapshot, with files added and removed since.
- a SQLite registry whose fingerprint (size, mtime, ctime, inode of the database and its WAL) is
  the one the snapshot recorded: a consistent view of it (the file under a read transaction, or
  SQLite's backup-API copy, which copies pages verbatim) must equal the snapshot block for block.
  (The drill then holds the restored database as sound as the live one the application works on;
  otherwise it runs ``PRAGMA integrity_check`` on it, see drill.py.)
- a dump command's output cannot be compared: it is produced anew on every run.

Everything here is blocking I/O and hashing, run from worker threads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from replication.crypto import chunk_id
from replication.errors import IntegrityError, RegistryReadError
from replication.manifest import RECORD, Entry, Manifest
from replication.readers import ChangedWhileReadingError, ScanItem
from replication.readers.directory import DirectoryReader
from replication.readers.sqlite import SqliteReader

MAX_CHUNK = 4 << 20  # the largest chunk FastCDC cuts; databases use 16 KiB blocks


class _ReadInto(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class SilentCorruptionError(IntegrityError):
    """A live file differs from its snapshot although nothing recorded a change to it."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """What comparing with the live registry found (silent corruption raises instead)."""

    summary: str
    identical: int = 0
    changed: int = 0
    comparable: bool = True


class ChunkBuffer:
    """One reusable read buffer per comparison. A fresh multi-MiB buffer per file would be mapped,
    zeroed and unmapped each time (large allocations are mmap'd): that cost more than the hashing."""

    def __init__(self, size: int = MAX_CHUNK) -> None:
        self.view = memoryview(bytearray(size))

    def at_least(self, size: int) -> memoryview:
        if size > len(self.view):
            self.view = memoryview(bytearray(size))
        return self.view


# A chunk that differs at ``offset`` with these live bytes: may it pass all the same?
Tolerance = Callable[[int, memoryview], bool]


def first_difference(
    stream: BinaryIO,
    entry: Entry,
    id_key: bytes,
    buffer: ChunkBuffer | None = None,
    tolerate: Tolerance | None = None,
) -> int | None:
    """Read ``stream`` to its end; the offset of the first chunk whose bytes differ from the
    manifest's (unless ``tolerate`` lets it pass), or None when all match and the lengths agree."""
    source = cast(_ReadInto, stream)  # readers give raw or buffered files, which have readinto
    buffer = buffer or ChunkBuffer()
    view = buffer.view
    pos = 0
    differs: int | None = None
    for cid, _, _, _, raw, _ in RECORD.iter_unpack(entry.chunks):
        if raw > len(view):
            view = buffer.at_least(raw)
        got = _read_exactly(source, view[:raw])
        if differs is None:
            same = got == raw and chunk_id(id_key, view[:raw]) == cid
            if not same and not (got == raw and tolerate is not None and tolerate(pos, view[:raw])):
                differs = pos
        pos += got
        if got != raw:
            break
    # Read to the end: the reader's consistency check needs it, and extra bytes are a difference.
    while True:
        n = source.readinto(view)
        if not n:
            break
        if differs is None:
            differs = pos
        pos += n
    return differs


def _read_exactly(stream: _ReadInto, into: memoryview) -> int:
    got = 0
    while got < len(into):
        n = stream.readinto(into[got:])
        if not n:
            break
        got += n
    return got


def compare_directory(manifest: Manifest, root: Path, id_key: bytes) -> Comparison:
    """Compare a folder registry with its snapshot; raises SilentCorruptionError."""
    reader = DirectoryReader(root)
    try:
        live = {item.path: item for item in reader.scan()}
    except RegistryReadError as e:
        return Comparison(f"live registry not readable: {e}", comparable=False)
    identical = changed = 0
    corrupt: list[str] = []
    buffer = ChunkBuffer()
    in_snapshot: set[str] = set()
    for entry in manifest.entries:
        in_snapshot.add(entry.path)
        item = live.get(entry.path)
        if entry.type == "dir":
            continue
        if item is None or item.type != entry.type:
            changed += 1
        elif entry.type == "symlink":
            if item.target != entry.target:  # counted when changed; "identical" counts files
                changed += 1
        elif item.size != entry.size or item.mtime_ns != entry.mtime_ns:
            changed += 1
        else:
            outcome = _compare_file(reader, item, entry, id_key, buffer)
            if outcome is None:
                changed += 1
            elif outcome < 0:
                identical += 1
            else:
                corrupt.append(f"{entry.path} (from byte {outcome})")
    added = sum(1 for path, item in live.items() if path not in in_snapshot and item.type != "dir")
    changed += added
    if corrupt:
        more = f" and {len(corrupt) - 3} more" if len(corrupt) > 3 else ""
        raise SilentCorruptionError(
            f"silent corruption: live {'file differs' if len(corrupt) == 1 else 'files differ'} from the snapshot "
            f"although size and mtime are unchanged: {', '.join(corrupt[:3])}{more}"
        )
    return Comparison(_summary(identical, changed, "files"), identical, changed)


def _compare_file(
    reader: DirectoryReader, item: ScanItem, entry: Entry, id_key: bytes, buffer: ChunkBuffer
) -> int | None:
    """-1 identical, the offset of the first difference, or None when the file changed meanwhile."""
    try:
        with reader.open(item) as (stream, now):
            if now.size != entry.size or now.mtime_ns != entry.mtime_ns:
                raise ChangedWhileReadingError(entry.path)
            differs = first_difference(stream, entry, id_key, buffer)
    except (ChangedWhileReadingError, RegistryReadError):
        return None
    return -1 if differs is None else differs


# Database header fields that differ between the file itself and a backup-API copy of it: the file
# change counter (24-27) and the version-valid-for number (92-95), which the copy bumps, and the
# SQLite version that last wrote it (96-99). The snapshot holds one or the other (the reader reads
# the file in place when it can), so the first block is compared without them.
_VOLATILE_HEADER = ((24, 28), (92, 100))


def compare_sqlite(manifest: Manifest, path: Path, id_key: bytes, scratch: Path, restored: Path) -> Comparison:
    """Compare a live SQLite registry with its snapshot, when its fingerprint says it is unchanged.

    ``restored`` is the restored database (already checked against the manifest): the one block
    holding the header is compared with it directly, without the header's volatile fields."""
    files = [e for e in manifest.entries if e.type == "file"]
    if len(files) != 1:
        raise IntegrityError(f"a SQLite snapshot holds one file, this one {len(files)}")
    entry = files[0]
    reader = SqliteReader(path, scratch)
    try:
        item = reader.scan()[0]
        if entry.cache is None or item.cache != entry.cache:
            return Comparison("live database changed since the snapshot", changed=1)
        with reader.open(item) as (stream, now):
            if now.cache != entry.cache:
                return Comparison("live database changed since the snapshot", changed=1)
            differs = first_difference(
                stream, entry, id_key, tolerate=lambda pos, live: _same_but_header(pos, live, restored)
            )
    except RegistryReadError as e:
        return Comparison(f"live database not readable: {e}", comparable=False)
    finally:
        reader.close()
    if differs is not None:
        raise SilentCorruptionError(
            f"silent corruption: a consistent copy of the live database {path.name} differs from the snapshot "
            f"from byte {differs}, although the database's fingerprint is unchanged"
        )
    return Comparison("live database unchanged", identical=1)


def _same_but_header(offset: int, live: memoryview, restored: Path) -> bool:
    if offset != 0 or len(live) < 100:
        return False
    with restored.open("rb") as f:
        ours = bytearray(f.read(len(live)))
    theirs = bytearray(live)
    for start, end in _VOLATILE_HEADER:
        ours[start:end] = theirs[start:end] = bytes(end - start)
    return ours == theirs


def check_sqlite_integrity(path: Path) -> None:
    """``PRAGMA integrity_check`` on a restored database, opened immutable (nothing is written)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise IntegrityError(f"restored database {path.name} cannot be opened: {e}") from e
    if rows != ["ok"]:
        raise IntegrityError(f"restored database {path.name} fails integrity_check: {'; '.join(rows[:3])}")


def _summary(identical: int, changed: int, what: str) -> str:
    if not changed:
        return f"{identical} {what} identical to the live registry"
    return f"{identical} {what} identical, {changed} changed since the snapshot"


__all__ = [
    "Comparison",
    "SilentCorruptionError",
    "check_sqlite_integrity",
    "compare_directory",
    "compare_sqlite",
    "first_difference",
]
