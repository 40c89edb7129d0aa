"""Reading and writing content in the mission database (synchronous; the site runs it in a thread).

Writes keep three things in step inside one transaction: the rows, the full-text index and, for
news, the signed statement of each translation. After the commit the content version is bumped so
every serving process drops its rendered pages.
"""

import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from nacl.signing import SigningKey

from embassy.content.errors import ContentError
from embassy.content.model import NEWS_KINDS, NewsItem, Page, Snapshot, Translation
from embassy.content.statements import SignedStatement, sign_statement
from embassy.content.text import html_to_text, sanitise_html

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_QUERY_WORDS = 8


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class TextInput:
    title: str
    summary: str
    body_html: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: str  # "page" | "news" | "alert"
    slug: str
    title: str
    snippet: str  # plain text; matches wrapped in \x02 ... \x03 for the renderer to mark up


@dataclass(frozen=True, slots=True)
class Signer:
    """What publishing needs to sign: the mission's name and its Ed25519 key."""

    mission: str
    key: SigningKey
    key_id: str


class ContentRepo:
    def __init__(self, conn: sqlite3.Connection, on_change: Callable[[], object] | None = None) -> None:
        self.conn = conn
        self.on_change = on_change

    # -- reads -----------------------------------------------------------------------------------

    def snapshot(self, version: int) -> Snapshot:
        c = self.conn
        c.execute("BEGIN")  # one consistent read across the tables
        try:
            pages: dict[str, Page] = {}
            for slug, section, position, parent in c.execute("SELECT slug, section, position, parent FROM page"):
                pages[slug] = Page(slug, section, position, parent, {})
            newest = ""
            for slug, lang, title, summary, body, updated in c.execute(
                "SELECT slug, lang, title, summary, body_html, updated FROM page_text"
            ):
                pages[slug].translations[lang] = Translation(lang, title, summary, body, updated)
                newest = max(newest, updated)
            news: dict[str, NewsItem] = {}
            for slug, kind, published in c.execute(
                "SELECT slug, kind, published FROM news WHERE published <= ? ORDER BY published DESC, slug",
                (utc_now(),),
            ):
                news[slug] = NewsItem(slug, kind, published, {})
            for slug, lang, title, summary, body, updated, sid in c.execute(
                "SELECT slug, lang, title, summary, body_html, updated, statement_id FROM news_text"
            ):
                if slug in news:
                    news[slug].translations[lang] = Translation(lang, title, summary, body, updated, sid)
                    newest = max(newest, updated)
        finally:
            c.execute("COMMIT")
        return Snapshot(
            version=version,
            pages=pages,
            news=tuple(n for n in news.values() if n.translations),
            last_modified=newest or "1970-01-01T00:00:00Z",
        )

    def statement(self, statement_id: str) -> SignedStatement | None:
        row = self.conn.execute(
            "SELECT s.id, s.payload, s.signature, s.key_id FROM statement s "
            "JOIN news_text t ON t.statement_id = s.id JOIN news n ON n.slug = t.slug "
            "WHERE s.id = ? AND n.published <= ?",
            (statement_id, utc_now()),
        ).fetchone()
        return SignedStatement(row[0], bytes(row[1]), bytes(row[2]), row[3]) if row else None

    def search(self, lang: str, query: str, limit: int = 20) -> list[SearchHit]:
        match = fts_query(query)
        if not match:
            return []
        rows = self.conn.execute(
            "SELECT kind, slug, title, snippet(search_index, 1, char(2), char(3), ' … ', 24) "
            "FROM search_index WHERE search_index MATCH ? AND lang = ? ORDER BY bm25(search_index, 4.0, 1.0) LIMIT ?",
            (match, lang, limit),
        ).fetchall()
        published = {r[0] for r in self.conn.execute("SELECT slug FROM news WHERE published <= ?", (utc_now(),))}
        return [SearchHit(*r) for r in rows if r[0] == "page" or r[1] in published]

    # -- writes ----------------------------------------------------------------------------------

    def put_page(self, slug: str, section: str, position: int = 0, parent: str | None = None) -> None:
        _check_slug(slug)
        with self._tx():
            self.conn.execute(
                "INSERT INTO page (slug, section, position, parent) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (slug) DO UPDATE SET section = excluded.section, position = excluded.position, "
                "parent = excluded.parent",
                (slug, section, position, parent),
            )

    def put_page_text(self, slug: str, lang: str, text: TextInput, updated: str | None = None) -> None:
        body = sanitise_html(text.body_html)
        with self._tx():
            if not self.conn.execute("SELECT 1 FROM page WHERE slug = ?", (slug,)).fetchone():
                raise ContentError(f"no page {slug!r}; create it before adding a translation")
            self.conn.execute(
                "INSERT INTO page_text (slug, lang, title, summary, body_html, updated) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (slug, lang) DO UPDATE SET title = excluded.title, summary = excluded.summary, "
                "body_html = excluded.body_html, updated = excluded.updated",
                (slug, lang, text.title.strip(), text.summary.strip(), body, updated or utc_now()),
            )
            self._index("page", slug, lang, text.title, body)

    def publish_news(
        self,
        slug: str,
        kind: str,
        texts: Mapping[str, TextInput],
        signer: Signer,
        published: str | None = None,
    ) -> dict[str, SignedStatement]:
        """Publish (or re-publish) a news item; every translation becomes a signed statement."""
        _check_slug(slug)
        if kind not in NEWS_KINDS:
            raise ContentError(f"news kind {kind!r} is not one of {', '.join(NEWS_KINDS)}")
        if not texts:
            raise ContentError("a news item needs at least one translation")
        published = published or utc_now()
        signed: dict[str, SignedStatement] = {}
        with self._tx():
            self.conn.execute(
                "INSERT INTO news (slug, kind, published) VALUES (?, ?, ?) "
                "ON CONFLICT (slug) DO UPDATE SET kind = excluded.kind, published = excluded.published",
                (slug, kind, published),
            )
            for lang, text in texts.items():
                body = sanitise_html(text.body_html)
                st = sign_statement(
                    {
                        "mission": signer.mission,
                        "kind": kind,
                        "lang": lang,
                        "slug": slug,
                        "path": f"/{lang}/news/{slug}",
                        "title": text.title.strip(),
                        "summary": text.summary.strip(),
                        "body_html": body,
                        "published": published,
                    },
                    signer.key,
                    signer.key_id,
                )
                self.conn.execute(
                    "INSERT OR IGNORE INTO statement (id, payload, signature, key_id, published) VALUES (?, ?, ?, ?, ?)",
                    (st.id, st.payload, st.signature, st.key_id, published),
                )
                self.conn.execute(
                    "INSERT INTO news_text (slug, lang, title, summary, body_html, updated, statement_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug, lang) DO UPDATE SET title = excluded.title, "
                    "summary = excluded.summary, body_html = excluded.body_html, updated = excluded.updated, "
                    "statement_id = excluded.statement_id",
                    (slug, lang, text.title.strip(), text.summary.strip(), body, published, st.id),
                )
                self._index(kind, slug, lang, text.title, body)
                signed[lang] = st
        return signed

    def has_page(self, slug: str) -> bool:
        return self.conn.execute("SELECT 1 FROM page WHERE slug = ?", (slug,)).fetchone() is not None

    def has_page_text(self, slug: str, lang: str) -> bool:
        q = "SELECT 1 FROM page_text WHERE slug = ? AND lang = ?"
        return self.conn.execute(q, (slug, lang)).fetchone() is not None

    def has_news(self, slug: str) -> bool:
        return self.conn.execute("SELECT 1 FROM news WHERE slug = ?", (slug,)).fetchone() is not None

    def _index(self, kind: str, slug: str, lang: str, title: str, body_html: str) -> None:
        self.conn.execute("DELETE FROM search_index WHERE slug = ? AND lang = ? AND kind = ?", (slug, lang, kind))
        self.conn.execute(
            "INSERT INTO search_index (title, body, lang, kind, slug) VALUES (?, ?, ?, ?, ?)",
            (title, html_to_text(body_html), lang, kind, slug),
        )

    def _tx(self) -> "_Transaction":
        return _Transaction(self)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, then tell the serving processes (nested uses join the outer one)."""

    def __init__(self, repo: ContentRepo) -> None:
        self.repo = repo
        self.outer = False

    def __enter__(self) -> None:
        if not self.repo.conn.in_transaction:
            self.repo.conn.execute("BEGIN IMMEDIATE")
            self.outer = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self.outer:
            return
        if exc_type is None:
            self.repo.conn.execute("COMMIT")
            if self.repo.on_change:
                self.repo.on_change()
        else:
            self.repo.conn.execute("ROLLBACK")


def _check_slug(slug: str) -> None:
    if not SLUG_RE.match(slug) or len(slug) > 80:
        raise ContentError(f"{slug!r} is not a slug; use lower-case words joined by '-', e.g. 'visa-rules'")


def fts_query(text: str) -> str:
    """A safe FTS5 query from what a visitor typed: every word a prefix match, all words required."""
    words = re.findall(r"\w+", text[:200])[:MAX_QUERY_WORDS]
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)
