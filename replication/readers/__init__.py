"""Registry readers: a consistent view of a folder, a SQLite database, a dump command's output or a
PostgreSQL database."""

from pathlib import Path

from replication.errors import RegistryReadError
from replication.readers.base import (
    ChangedWhileReadingError,
    ChangeTracked,
    Chunking,
    CountsRows,
    RegistryReader,
    ScanItem,
)
from replication.readers.command import CommandReader
from replication.readers.directory import DirectoryReader
from replication.readers.postgres import PostgresReader
from replication.readers.sqlite import SqliteReader
from replication.readers.sqlite_wal import WalTracker
from replication.spec import RegistrySpec


def make_reader(spec: RegistrySpec, scratch: Path, tracker: WalTracker | None = None) -> RegistryReader:
    """``tracker``: kept by a caller across rounds for a SQLite registry (sqlite_wal.py)."""
    if spec.kind == "directory" and spec.path is not None:
        return DirectoryReader(spec.path)
    if spec.kind == "sqlite" and spec.path is not None:
        return SqliteReader(spec.path, scratch, tracker=tracker)
    if spec.kind == "command" and spec.command:
        return CommandReader(spec.name, spec.command, dict(spec.environment))
    if spec.kind == "postgres" and spec.postgres is not None:
        return PostgresReader(spec.name, spec.postgres, dict(spec.environment))
    raise RegistryReadError(f"registry {spec.name}: incomplete {spec.kind} registry")


__all__ = [
    "ChangeTracked",
    "ChangedWhileReadingError",
    "Chunking",
    "CountsRows",
    "RegistryReader",
    "ScanItem",
    "WalTracker",
    "make_reader",
]
