"""Appending to and reading the audit log in the mission database (sync; callers pick the thread).

Appends from several processes are serialised by SQLite: :func:`append` must run inside a
``BEGIN IMMEDIATE`` transaction (see :func:`transaction`), so reading the head and writing the
next entry cannot interleave with another writer. Callers put the entry in the same transaction
as the change it records, so there is no change without its entry.
"""

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from embassy.audit.chain import GENESIS, Entry, entry_hash

MAX_PAGE = 1000
MAX_FIELD = 200


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error); not reentrant."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _clean(detail: dict[str, Any]) -> dict[str, Any]:
    """Details are short strings, numbers, booleans or lists of strings: never free text from a
    form, which could be a password typed into the wrong field."""
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, str):
            value = value[:MAX_FIELD]
        elif isinstance(value, list):
            value = [str(v)[:MAX_FIELD] for v in value[:50]]
        elif not isinstance(value, bool | int) and value is not None:
            value = str(value)[:MAX_FIELD]
        out[str(key)] = value
    return out


def append(conn: sqlite3.Connection, actor: str, action: str, detail: dict[str, Any] | None = None) -> Entry:
    """Append one entry (inside the caller's ``BEGIN IMMEDIATE`` transaction)."""
    assert conn.in_transaction, "audit.append needs the caller's BEGIN IMMEDIATE transaction"
    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
    clean = _clean(detail or {})
    time = now_iso()
    actor = actor[:MAX_FIELD]
    digest = entry_hash(seq, time, actor, action, clean, prev)
    conn.execute(
        "INSERT INTO audit_log (seq, time, actor, action, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq, time, actor, action, json.dumps(clean, sort_keys=True, ensure_ascii=False), prev, digest),
    )
    return Entry(seq, time, actor, action, clean, prev, digest)


def record(conn: sqlite3.Connection, actor: str, action: str, detail: dict[str, Any] | None = None) -> Entry:
    """Append one entry in a transaction of its own."""
    with transaction(conn):
        return append(conn, actor, action, detail)


def _entry(row: tuple[Any, ...]) -> Entry:
    seq, time, actor, action, detail, prev, digest = row
    try:
        parsed = json.loads(detail)
    except ValueError:
        parsed = {"unreadable": str(detail)[:MAX_FIELD]}
    if not isinstance(parsed, dict):
        parsed = {"unreadable": str(detail)[:MAX_FIELD]}
    return Entry(int(seq), str(time), str(actor), str(action), parsed, str(prev), str(digest))


_COLUMNS = "seq, time, actor, action, detail, prev_hash, hash"


def entries(conn: sqlite3.Connection, after: int = 0, limit: int = MAX_PAGE, newest_first: bool = False) -> list[Entry]:
    order = "DESC" if newest_first else "ASC"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq {order} LIMIT ?",  # noqa: S608 - fixed words
        (after, min(limit, MAX_PAGE)),
    ).fetchall()
    return [_entry(r) for r in rows]


def page_before(conn: sqlite3.Connection, before: int | None, limit: int = 100) -> list[Entry]:
    """Up to ``limit`` entries older than ``before`` (None: the newest), newest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?",  # noqa: S608
        (before if before is not None else 2**62, min(limit, MAX_PAGE)),
    ).fetchall()
    return [_entry(r) for r in rows]


def all_entries(conn: sqlite3.Connection) -> Iterator[Entry]:
    for row in conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq"):  # noqa: S608
        yield _entry(row)


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """The number of entries and the newest entry's hash (``GENESIS`` when empty)."""
    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)

