"""Values the site renders: what is published of every item, in every language, as one immutable snapshot.

A mission's content is small (tens of pages, hundreds of news items), so the site loads all of it
at once whenever the content version changes and renders from memory; only search, statements and
images go to the database per request. Only published editions are here: drafts, submissions and
scheduled editions live in the publishing workflow (``embassy/publishing/``) until they publish.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

NEWS = "news"
ALERT = "alert"
PAGE = "page"
NEWS_KINDS = (NEWS, ALERT)
KINDS = (NEWS, PAGE, ALERT)
SEVERITIES = ("info", "warning", "critical")


def route_of(kind: str) -> str:
    """The URL segment of a kind: pages under /{lang}/pages/, news and alerts under /{lang}/news/."""
    return "pages" if kind == PAGE else "news"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One published edition in an item's public history (major editions only, and withdrawals)."""

    edition: int
    published: str
    change_note: str
    statement_id: str | None
    withdrawal: bool = False


@dataclass(frozen=True, slots=True)
class Withdrawal:
    when: str
    reason: str
    statement_id: str | None


@dataclass(frozen=True, slots=True)
class Translation:
    lang: str
    title: str
    summary: str
    body_html: str  # rendered and sanitised on write (see embassy.content.text), safe to insert as markup
    updated: str  # ISO 8601 UTC, "2026-11-20T09:00:00Z": when this edition was published
    statement_id: str | None = None  # the signed statement of this edition
    edition: int = 1
    major_updated: str = ""  # when the newest major edition of this language was published
    history: tuple[HistoryEntry, ...] = ()
    withdrawn: Withdrawal | None = None


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
class Page:
    slug: str
    section: str
    position: int
    parent: str | None
    translations: dict[str, Translation] = field(hash=False)
    item: str = ""

    def pick(self, lang: str, order: Sequence[str]) -> Translation | None:
        return pick(self.translations, lang, order)


@dataclass(frozen=True, slots=True)
class NewsItem:
    slug: str
    kind: str  # "news" | "alert"
    published: str  # first publication of the item in any language
    translations: dict[str, Translation] = field(hash=False)
    item: str = ""
    severity: str | None = None  # alerts: info | warning | critical
    countries: tuple[str, ...] = ()  # alerts: ISO 3166 codes it concerns (none: everywhere)
    expires: str | None = None  # alerts: no longer a banner after this

    def pick(self, lang: str, order: Sequence[str]) -> Translation | None:
        return pick(self.translations, lang, order)

    def current_at(self, now: str) -> bool:
        """An alert shown as a site-wide banner at ``now``: not expired, not withdrawn everywhere."""
        if self.kind != ALERT or (self.expires is not None and self.expires <= now):
            return False
        return any(t.withdrawn is None for t in self.translations.values())


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything public at one content version."""

    version: int
    pages: dict[str, Page]
    news: tuple[NewsItem, ...]  # newest first
    last_modified: str  # the newest ``updated`` of anything in it
    removed: frozenset[tuple[str, str]] = frozenset()  # (route, slug) of items removed for legal reasons
    taken: str = ""  # when it was read: alerts expire relative to this (the scheduler bumps the version)

    def page(self, slug: str) -> Page | None:
        return self.pages.get(slug)

    def news_item(self, slug: str) -> NewsItem | None:
        for item in self.news:
            if item.slug == slug:
                return item
        return None

    def is_removed(self, route: str, slug: str) -> bool:
        return (route, slug) in self.removed

    def children(self, slug: str) -> list[Page]:
        return sorted((p for p in self.pages.values() if p.parent == slug), key=lambda p: (p.position, p.slug))

    def alerts(self) -> list[NewsItem]:
        return [n for n in self.news if n.kind == ALERT]

    def banner_alerts(self) -> list[NewsItem]:
        """Alerts current when the snapshot was read, most severe first."""
        rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
        current = [n for n in self.news if n.current_at(self.taken)]
        return sorted(current, key=lambda n: rank.get(n.severity or "warning", 1))
