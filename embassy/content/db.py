"""The content feature's schema in the mission database (``<data_dir>/mission.db``).

The mission database is opened through :mod:`embassy.mission_db`, which applies every feature's
migrations (:mod:`embassy.migrations`); this list is the content feature's, append-only. (Its
first step also created the old one-role ``staff`` table, which the staff feature's first step
replaces, and its second the drill history; its third replaced the published-only page and news
tables with items and their editions, which the publishing workflow moves through its states.)
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
    # 3: the editorial workflow. An item (news, page or alert) has one line of editions per language;
    # an edition moves draft -> submitted -> approved -> scheduled/published -> superseded, or is
    # withdrawn. What the old tables held was published: it becomes each line's first edition,
    # published, keeping its signed statement. Images are stored here (replicated with the rest).
    """
    CREATE TABLE item (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('news', 'page', 'alert')),
        route TEXT NOT NULL CHECK (route IN ('news', 'pages')),
        slug TEXT NOT NULL,
        section TEXT NOT NULL DEFAULT '',
        position INTEGER NOT NULL DEFAULT 0,
        parent TEXT,
        severity TEXT CHECK (severity IS NULL OR severity IN ('info', 'warning', 'critical')),
        countries TEXT NOT NULL DEFAULT '',
        expires TEXT,
        created TEXT NOT NULL,
        created_by TEXT NOT NULL,
        first_published TEXT,
        removed TEXT,
        removed_by TEXT,
        removed_reason TEXT,
        UNIQUE (route, slug)
    );
    CREATE TABLE edition (
        item TEXT NOT NULL REFERENCES item(id),
        lang TEXT NOT NULL,
        number INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'approved', 'scheduled', 'published',
                                              'superseded', 'withdrawn')),
        title TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        body_md TEXT NOT NULL DEFAULT '',
        body_html TEXT NOT NULL DEFAULT '',
        change_note TEXT NOT NULL DEFAULT '',
        major INTEGER NOT NULL DEFAULT 1 CHECK (major IN (0, 1)),
        source_lang TEXT,
        source_number INTEGER,
        author TEXT NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        submitted TEXT,
        approved_by TEXT,
        approved TEXT,
        publish_at TEXT,
        published TEXT,
        published_by TEXT,
        urgent_reason TEXT,
        reviewed_by TEXT,
        reviewed TEXT,
        statement_id TEXT REFERENCES statement(id),
        withdrawn TEXT,
        withdrawn_by TEXT,
        withdrawn_reason TEXT,
        withdrawal_statement TEXT REFERENCES statement(id),
        PRIMARY KEY (item, lang, number)
    );
    CREATE UNIQUE INDEX edition_public ON edition(item, lang) WHERE state IN ('published', 'withdrawn');
    CREATE UNIQUE INDEX edition_working ON edition(item, lang) WHERE state IN ('draft', 'submitted', 'approved', 'scheduled');
    CREATE INDEX edition_due ON edition(state, publish_at);
    CREATE TABLE image (
        id TEXT PRIMARY KEY,
        item TEXT NOT NULL REFERENCES item(id),
        format TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        uploaded TEXT NOT NULL,
        uploaded_by TEXT NOT NULL
    );
    CREATE TABLE image_variant (
        name TEXT PRIMARY KEY,
        image TEXT NOT NULL REFERENCES image(id),
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX image_variant_image ON image_variant(image, width);
    ALTER TABLE statement ADD COLUMN item TEXT;
    INSERT INTO item (id, kind, route, slug, section, position, parent, created, created_by, first_published)
        SELECT lower(hex(randomblob(6))), 'page', 'pages', p.slug, p.section, p.position, p.parent,
               coalesce((SELECT min(updated) FROM page_text t WHERE t.slug = p.slug), '1970-01-01T00:00:00Z'),
               'legacy', (SELECT min(updated) FROM page_text t WHERE t.slug = p.slug)
        FROM page p;
    INSERT INTO item (id, kind, route, slug, severity, created, created_by, first_published)
        SELECT lower(hex(randomblob(6))), n.kind, 'news', n.slug, CASE n.kind WHEN 'alert' THEN 'warning' END,
               n.published, 'legacy', n.published
        FROM news n;
    INSERT INTO edition (item, lang, number, state, title, summary, body_md, body_html, author, created, updated,
                         published, published_by)
        SELECT i.id, t.lang, 1, 'published', t.title, t.summary, t.body_html, t.body_html, 'legacy', t.updated,
               t.updated, t.updated, 'legacy'
        FROM page_text t JOIN item i ON i.route = 'pages' AND i.slug = t.slug;
    INSERT INTO edition (item, lang, number, state, title, summary, body_md, body_html, author, created, updated,
                         published, published_by, statement_id)
        SELECT i.id, t.lang, 1, 'published', t.title, t.summary, t.body_html, t.body_html, 'legacy', t.updated,
               t.updated, t.updated, 'legacy', t.statement_id
        FROM news_text t JOIN item i ON i.route = 'news' AND i.slug = t.slug;
    UPDATE statement SET item = (SELECT e.item FROM edition e WHERE e.statement_id = statement.id);
    DROP TABLE news_text;
    DROP TABLE news;
    DROP TABLE page_text;
    DROP TABLE page;
    """,
)

CONTENT = Feature("content", MIGRATIONS, legacy=True)
