"""Reading what is published from the mission database (synchronous; the site runs it in a thread).

Everything written goes through the publishing workflow (``embassy/publishing/workflow.py``), which
keeps the editions, their signed statements and the full-text index in step inside one transaction
and then bumps the content version so every serving process drops its rendered pages. Here the
site reads: the snapshot of everything published, one statement, search, one image.
"""

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from embassy.content.model import (
    ALERT,
    PAGE,
    HistoryEntry,
    NewsItem,
    Page,
    Snapshot,
    Translation,
    Withdrawal,
)
from embassy.content.statements import SignedStatement

MAX_QUERY_WORDS = 8
PUBLIC_STATES = ("published", "withdrawn")


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: str  # "page" | "news" | "alert"
    slug: str
    title: str
    snippet: str  # plain text; matches wrapped in \x02 ... \x03 for the renderer to mark up


@dataclass(frozen=True, slots=True)
class StoredImage:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StatementRow:
    statement: SignedStatement
    removed: bool  # its item was removed for legal reasons: answered 410, never served


_ITEMS = (
    "SELECT id, kind, slug, section, position, parent, severity, countries, expires, first_published, removed "
    "FROM item"
)
_EDITIONS = (
    "SELECT item, lang, number, state, title, summary, body_html, change_note, major, published, statement_id, "
    "withdrawn, withdrawn_reason, withdrawal_statement FROM edition "
    "WHERE state IN ('published', 'superseded', 'withdrawn') ORDER BY item, lang, number"
)


class ContentRepo:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def snapshot(self, version: int) -> Snapshot:
        c = self.conn
        c.execute("BEGIN")  # one consistent read across the tables
        try:
            items = c.execute(_ITEMS).fetchall()
            editions = c.execute(_EDITIONS).fetchall()
        finally:
            c.execute("COMMIT")
        translations: dict[str, dict[str, Translation]] = {}
        history: dict[tuple[str, str], list[HistoryEntry]] = {}
        major_at: dict[tuple[str, str], str] = {}
        newest = ""
        for (item, lang, number, state, title, summary, body, note, major, published, sid, w_when, w_reason,
             w_sid) in editions:  # fmt: skip
            line = history.setdefault((item, lang), [])
            if major:
                line.append(HistoryEntry(number, published, note, sid))
                major_at[(item, lang)] = published
            if w_when:
                line.append(HistoryEntry(number, w_when, w_reason or "", w_sid, withdrawal=True))
            if state in PUBLIC_STATES:
                withdrawn = Withdrawal(w_when, w_reason or "", w_sid) if state == "withdrawn" else None
                translations.setdefault(item, {})[lang] = Translation(
                    lang, title, summary, body, published, sid, number, major_at.get((item, lang), published),
                    (), withdrawn,
                )  # fmt: skip
                newest = max(newest, published, w_when or "")
        pages: dict[str, Page] = {}
        news: list[NewsItem] = []
        removed: set[tuple[str, str]] = set()
        for item, kind, slug, section, position, parent, severity, countries, expires, first, gone in items:
            route = "pages" if kind == PAGE else "news"
            if gone:
                removed.add((route, slug))
                continue
            texts = {
                lang: _with_history(t, history.get((item, lang), [])) for lang, t in translations.get(item, {}).items()
            }
            if not texts:
                continue
            if kind == PAGE:
                pages[slug] = Page(slug, section, position, parent, texts, item)
            else:
                codes = tuple(c for c in countries.split(",") if c) if countries else ()
                news.append(NewsItem(slug, kind, first or "", texts, item, severity, codes, expires))
        news.sort(key=lambda n: (n.published, n.slug), reverse=True)
        return Snapshot(
            version=version,
            pages=pages,
            news=tuple(news),
            last_modified=newest or "1970-01-01T00:00:00Z",
            removed=frozenset(removed),
            taken=utc_now(),
        )

    def statement(self, statement_id: str) -> StatementRow | None:
        row = self.conn.execute(
            "SELECT s.id, s.payload, s.signature, s.key_id, i.removed FROM statement s "
            "LEFT JOIN item i ON i.id = s.item WHERE s.id = ?",
            (statement_id,),
        ).fetchone()
        if row is None:
            return None
        return StatementRow(SignedStatement(row[0], bytes(row[1]), bytes(row[2]), row[3]), row[4] is not None)

    def statement_ids(self) -> list[str]:
        """Every statement ``/statements/{id}.json`` answers (those of removed items answer 410)."""
        rows = self.conn.execute(
            "SELECT s.id FROM statement s LEFT JOIN item i ON i.id = s.item WHERE i.removed IS NULL ORDER BY s.id"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def image(self, name: str) -> StoredImage | None:
        row = self.conn.execute(
            "SELECT v.name, v.content_type, v.data FROM image_variant v JOIN image g ON g.id = v.image "
            "JOIN item i ON i.id = g.item WHERE v.name = ? AND i.removed IS NULL",
            (name,),
        ).fetchone()
        return StoredImage(row[0], row[1], bytes(row[2])) if row else None

    def search(self, lang: str, query: str, limit: int = 20) -> list[SearchHit]:
        """Published editions only: the index holds what the workflow published (and drops what was removed)."""
        match = fts_query(query)
        if not match:
            return []
        rows = self.conn.execute(
            "SELECT kind, slug, title, snippet(search_index, 1, char(2), char(3), ' … ', 24) "
            "FROM search_index WHERE search_index MATCH ? AND lang = ? ORDER BY bm25(search_index, 4.0, 1.0) LIMIT ?",
            (match, lang, limit),
        ).fetchall()
        return [SearchHit(*r) for r in rows]


def _with_history(t: Translation, line: list[HistoryEntry]) -> Translation:
    return Translation(
        t.lang, t.title, t.summary, t.body_html, t.updated, t.statement_id, t.edition, t.major_updated,
        tuple(sorted(line, key=lambda h: (h.published, h.edition, h.withdrawal), reverse=True)), t.withdrawn,
    )  # fmt: skip


def fts_query(text: str) -> str:
    """A safe FTS5 query from what a visitor typed: every word a prefix match, all words required."""
    words = re.findall(r"\w+", text[:200])[:MAX_QUERY_WORDS]
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


__all__ = ["ALERT", "ContentRepo", "SearchHit", "StatementRow", "StoredImage", "fts_query", "utc_now"]
