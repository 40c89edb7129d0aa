"""The analytics database: aggregated counts only (and today's salted visitor hashes)."""

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS views (
    day TEXT NOT NULL, page TEXT NOT NULL, lang TEXT NOT NULL, bot INTEGER NOT NULL, views INTEGER NOT NULL,
    PRIMARY KEY (day, page, lang, bot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS visitors (
    day TEXT NOT NULL, bot INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (day, bot, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_visitors (
    day TEXT NOT NULL, bot INTEGER NOT NULL, uniques INTEGER NOT NULL,
    PRIMARY KEY (day, bot)
) WITHOUT ROWID;
"""


def analytics_dir(data_dir: Path) -> Path:
    return data_dir / "analytics"


def connect(data_dir: Path) -> sqlite3.Connection:
    folder = analytics_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = sqlite3.connect(folder / "analytics.db", timeout=10, isolation_level=None, check_same_thread=False)
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":  # switching needs a lock SQLite does not wait for: once, before the workers
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


def write_counts(
    conn: sqlite3.Connection,
    views: dict[tuple[str, str, str, bool], int],
    visitors: dict[tuple[str, bool], set[bytes]],
    today: str,
) -> None:
    """Add a worker's buffered counts, and reduce finished days' hashes to a count."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT INTO views (day, page, lang, bot, views) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (day, page, lang, bot) DO UPDATE SET views = views + excluded.views",
            [(d, p, lang, int(b), n) for (d, p, lang, b), n in views.items()],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO visitors (day, bot, hash) VALUES (?, ?, ?)",
            [(d, int(b), h) for (d, b), hashes in visitors.items() for h in hashes],
        )
        conn.execute(
            "INSERT INTO daily_visitors (day, bot, uniques) SELECT day, bot, count(*) FROM visitors WHERE day < ? "
            "GROUP BY day, bot ON CONFLICT (day, bot) DO UPDATE SET uniques = uniques + excluded.uniques",
            (today,),
        )
        conn.execute("DELETE FROM visitors WHERE day < ?", (today,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
