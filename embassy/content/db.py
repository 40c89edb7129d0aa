"""The content feature's schema in the mission database (``<data_dir>/mission.db``).

The mission database is opened through :mod:`embassy.mission_db`, which applies every feature's
migrations (:mod:`embassy.migrations`); this list is the content feature's, append-only. (Its
first step also created the old one-role ``staff`` table, which the staff feature's first step
replaces, and its second the drill history.)
"""

from embassy.migrations import Feature

MISSION_DB = "mission.db"

MIGRATIONS: tuple[str, ...] = (
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
)

CONTENT = Feature("content", MIGRATIONS, legacy=True)
