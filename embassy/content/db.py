"""The mission's database (``<data_dir>/mission.db``): opening it and its schema migrations.

The schema version is SQLite's ``PRAGMA user_version``; :data:`MIGRATIONS` is append-only, each
entry taking the database from version ``i`` to ``i + 1``. Later parts (contact messages, staff
publishing) add their tables by appending here.
"""

import sqlite3
from pathlib import Path

MISSION_DB = "mission.db"

MIGRATIONS: list[str] = [
    # 1: pages, news, signed statements, per-language full-text search, staff accounts
    """
    CREATE TABLE page (
        slug TEXT PRIMARY KEY,
        section TEXT NOT NULL,
        position INTEGER NOT NULL DEFAULT 0,
        parent TEXT REFERENCES page(slug)
    );
    CREATE TABLE page_text (
        slug TEXT NOT NULL REFERENCES page(slug) ON DELETE CASCADE,
        lang TEXT NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        body_html TEXT NOT NULL,
        updated TEXT NOT NULL,
        PRIMARY KEY (slug, lang)
    );
    CREATE TABLE statement (
        id TEXT PRIMARY KEY,
        payload BLOB NOT NULL,
        signature BLOB NOT NULL,
        key_id TEXT NOT NULL,
        published TEXT NOT NULL
    );
    CREATE TABLE news (
        slug TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('news', 'alert')),
        published TEXT NOT NULL
    );
    CREATE TABLE news_text (
        slug TEXT NOT NULL REFERENCES news(slug) ON DELETE CASCADE,
        lang TEXT NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        body_html TEXT NOT NULL,
        updated TEXT NOT NULL,
        statement_id TEXT NOT NULL REFERENCES statement(id),
        PRIMARY KEY (slug, lang)
    );
    CREATE VIRTUAL TABLE search_index USING fts5(
        title, body, lang UNINDEXED, kind UNINDEXED, slug UNINDEXED,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TABLE staff (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'publisher', 'consular')),
        password_hash TEXT NOT NULL,
        totp_secret TEXT,
        created TEXT NOT NULL
    );
    """,
    # 2: restore drills' results (embassy drill), kept here so that they are replicated with the
    # mission's own registry: the proof that the copies were restorable travels with them
    """
    CREATE TABLE drill_history (
        id INTEGER PRIMARY KEY,
        run TEXT NOT NULL,
        started TEXT NOT NULL,
        store TEXT NOT NULL,
        registry TEXT NOT NULL,
        snapshot_id TEXT,
        snapshot_time TEXT,
        ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
        seconds REAL NOT NULL,
        bytes INTEGER NOT NULL,
        files INTEGER NOT NULL,
        rpo_seconds REAL,
        compared TEXT NOT NULL DEFAULT '',
        error TEXT
    );
    CREATE INDEX drill_history_run ON drill_history(run);
    """,
]


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the mission database. WAL, so readers never wait for a writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=check_same_thread, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"mission.db has schema version {version}, newer than this program's {len(MIGRATIONS)}; upgrade embassy"
        )
    for i in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            (current,) = conn.execute("PRAGMA user_version").fetchone()
            if current == i:  # another process may have migrated meanwhile
                for stmt in _statements(MIGRATIONS[i]):
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {i + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        candidate = "\n".join(buf).strip()
        if candidate.endswith(";") and sqlite3.complete_statement(candidate):
            out.append(candidate)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out
