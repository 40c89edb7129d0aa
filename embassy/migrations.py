"""Schema migrations of the service's SQLite databases: one append-only list per feature.

A database is made of features (the mission database: content, staff, audit, and later the inbox),
each with its own list of steps; step ``i`` takes that feature from version ``i`` to ``i + 1``. The
versions live in the table ``schema_version`` (feature, version). Features are applied in the
order given, so a later feature's steps may rely on an earlier one's tables.

Rules:
1. A list is append-only: a released step is never edited, only followed by another.
2. Each step runs in its own ``BEGIN IMMEDIATE`` transaction and re-reads the version inside it,
   so two processes migrating at once apply each step exactly once.
3. :func:`prepare` (WAL mode, then every step) runs once in the supervising process before any
   worker opens the database: switching a fresh file to WAL needs an exclusive lock that SQLite
   does not wait for, so two workers doing it at once made one fail with "database is locked".
   :func:`connect` switches to WAL only when the file is not in WAL mode already.
4. A database that a newer program migrated (a feature's version above the steps known here, or
   a feature unknown here) is refused rather than used half-understood.
"""

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# PRAGMA user_version of every database migrated this way: a program from before per-feature
# lists (which compared user_version with its own single list) refuses such a file clearly.
USER_VERSION = 1000


class MigrationError(Exception):
    """A database's schema cannot be used by this program."""


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    steps: tuple[str, ...]
    # True for the one feature whose version PRAGMA user_version counted before per-feature lists
    # (content): a database from then starts that feature at its user_version.
    legacy: bool = False


def connect(path: Path, features: Sequence[Feature], *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) and migrate a database; WAL, so readers never wait for a writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=check_same_thread, isolation_level=None)
    try:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn, features, str(path))
    except BaseException:
        conn.close()
        raise
    return conn


def prepare(path: Path, features: Sequence[Feature]) -> None:
    """Create, switch to WAL and migrate, then close: what the supervising process does once."""
    connect(path, features).close()


def versions(conn: sqlite3.Connection) -> dict[str, int]:
    have = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if have is None:
        return {}
    return {str(name): int(v) for name, v in conn.execute("SELECT feature, version FROM schema_version")}


def migrate(conn: sqlite3.Connection, features: Sequence[Feature], where: str = "the database") -> None:
    current = versions(conn)
    if all(current.get(f.name, -1) == len(f.steps) for f in features):
        _refuse_unknown(current, features, where)
        return  # the usual case for a worker: nothing to do, nothing written
    conn.execute("BEGIN IMMEDIATE")
    try:
        _adopt_legacy(conn, features)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    for feature in features:
        for i in range(len(feature.steps)):
            conn.execute("BEGIN IMMEDIATE")
            try:
                have = versions(conn).get(feature.name, 0)
                if have > len(feature.steps):
                    raise MigrationError(
                        f"{where}: the {feature.name} schema is at version {have}, newer than this program's "
                        f"{len(feature.steps)}; upgrade embassy"
                    )
                if have == i:  # else another process applied it meanwhile
                    for stmt in _statements(feature.steps[i]):
                        conn.execute(stmt)
                    conn.execute(
                        "INSERT INTO schema_version (feature, version) VALUES (?, ?) "
                        "ON CONFLICT (feature) DO UPDATE SET version = excluded.version",
                        (feature.name, i + 1),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    _refuse_unknown(versions(conn), features, where)


def _adopt_legacy(conn: sqlite3.Connection, features: Sequence[Feature]) -> None:
    """Create ``schema_version``; a database from before it gets its features' legacy versions."""
    if versions(conn):
        return
    (user_version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (feature TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    if user_version >= USER_VERSION:
        return
    for f in features:
        if f.legacy and user_version:
            if user_version > len(f.steps):
                raise MigrationError(
                    f"the database has schema version {user_version}, newer than this program knows; upgrade embassy"
                )
            conn.execute("INSERT INTO schema_version (feature, version) VALUES (?, ?)", (f.name, user_version))
    conn.execute(f"PRAGMA user_version = {USER_VERSION}")


def _refuse_unknown(current: dict[str, int], features: Sequence[Feature], where: str) -> None:
    known = {f.name: len(f.steps) for f in features}
    for name, version in current.items():
        if name not in known:
            raise MigrationError(f"{where}: holds a {name!r} schema this program does not know; upgrade embassy")
        if version > known[name]:
            raise MigrationError(
                f"{where}: the {name} schema is at version {version}, newer than this program's {known[name]}; "
                "upgrade embassy"
            )


def _statements(script: str) -> list[str]:
    """The script's statements one by one (``executescript`` would commit our transaction)."""
    out, start = [], 0
    for i, ch in enumerate(script):
        if ch == ";" and sqlite3.complete_statement(script[start : i + 1]):
            out.append(script[start : i + 1].strip())
            start = i + 1
    if script[start:].strip():
        out.append(script[start:].strip())
    return out
