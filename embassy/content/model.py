"""Values the site renders: pages and news with their translations, as one immutable snapshot.

A mission's content is small (tens of pages, hundreds of news items), so the site loads all of it
at once whenever the content version changes and renders from memory; only search and statements
go to the database per request.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

NEWS = "news"
ALERT = "alert"
NEWS_KINDS = (NEWS, ALERT)


@dataclass(frozen=True, slots=True)
class Translation:
    lang: str
    title: str
    summary: str
    body_html: str  # sanitised on write (see embassy.content.text), safe to insert as markup
    updated: str  # ISO 8601 UTC, "2026-11-20T09:00:00Z"
    statement_id: str | None = None  # news only: the signed statement of this translation


@dataclass(frozen=True, slots=True)
class Page:
    slug: str
    section: str
    position: int
    parent: str | None
    translations: dict[str, Translation] = field(hash=False)

    def pick(self, lang: str, order: Sequence[str]) -> Translation | None:
        return pick(self.translations, lang, order)


@dataclass(frozen=True, slots=True)
class NewsItem:
    slug: str
    kind: str  # "news" | "alert"
    published: str
    translations: dict[str, Translation] = field(hash=False)

    def pick(self, lang: str, order: Sequence[str]) -> Translation | None:
        return pick(self.translations, lang, order)


def pick(translations: dict[str, Translation], lang: str, order: Sequence[str]) -> Translation | None:
    """The translation in ``lang``, else the first that exists in the configured ``order``
    (the first configured language is the fallback), else any."""
    if lang in translations:
        return translations[lang]
    for candidate in order:
        if candidate in translations:
            return translations[candidate]
    return next(iter(translations.values()), None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything public at one content version."""

    version: int
    pages: dict[str, Page]
    news: tuple[NewsItem, ...]  # newest first
    last_modified: str  # the newest ``updated`` of anything in it

    def page(self, slug: str) -> Page | None:
        return self.pages.get(slug)

    def news_item(self, slug: str) -> NewsItem | None:
        for item in self.news:
            if item.slug == slug:
                return item
        return None

    def children(self, slug: str) -> list[Page]:
        return sorted((p for p in self.pages.values() if p.parent == slug), key=lambda p: (p.position, p.slug))

    def alerts(self) -> list[NewsItem]:
        return [n for n in self.news if n.kind == ALERT]
