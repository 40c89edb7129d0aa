"""Turning content into HTML: the jinja environment, the frame every page shares, and URL helpers."""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from embassy.content.model import NewsItem, Page, Snapshot, Translation
from embassy.web import i18n

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# (key in i18n.UI, path after /{lang}/, section id)
NAV = (
    ("home", "", "home"),
    ("news", "news/", "news"),
    ("consular", "pages/consular", "consular"),
    ("travel", "pages/travel-advice", "travel"),
    ("about", "pages/about", "about"),
    ("contact", "contact", "contact"),
)


def make_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=False,
        lstrip_blocks=False,
        undefined=jinja2.StrictUndefined,
    )


@dataclass(frozen=True, slots=True)
class Asset:
    """A static file served from memory under a content-hashed URL."""

    name: str
    body: bytes
    content_type: str
    url: str


def load_asset(name: str, content_type: str) -> Asset:
    body = (STATIC / name).read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:10]
    return Asset(name, body, content_type, f"/static/{name}?v={digest}")


class Renderer:
    def __init__(
        self,
        env: jinja2.Environment,
        mission: str,
        languages: Sequence[str],
        public_url: str,
        css_url: str,
        *,
        mirror: bool = False,
    ):
        self.env = env
        self.mirror = mirror  # pages for a static mirror (embassy/mirror): no forms, a note on every page
        self.mission = mission
        self.languages = tuple(languages)
        self.public_url = public_url
        self.css_url = css_url

    def absolute(self, path: str) -> str:
        return self.public_url + path

    def frame(
        self,
        lang: str,
        rest: str,
        *,
        title: str,
        description: str,
        section: str = "",
        available: Iterable[str] | None = None,
        shown: str | None = None,
        og_type: str = "website",
        query: str = "",
        snap: Snapshot | None = None,
    ) -> dict[str, Any]:
        """What base.html needs. ``rest`` is the path after ``/{lang}/``; ``available`` the languages
        this page's content exists in (all when None); ``shown`` the language actually shown;
        ``snap`` the content it was built from, whose current alerts show as a banner on every page."""
        w = i18n.words(lang)
        have = list(self.languages) if available is None else [lg for lg in self.languages if lg in set(available)]
        note = ""
        note_links: list[dict[str, str]] = []
        if shown is not None and shown != lang:
            note = w(
                "not_translated",
                wanted=i18n.language_name_in(lang, lang),
                shown=i18n.language_name_in(shown, lang),
            )
            note_links = [
                {"code": lg, "name": i18n.language_name(lg), "href": f"/{lg}/{rest}"} for lg in have if lg != lang
            ]
        return {
            "lang": lang,
            "dir": i18n.direction(lang),
            "w": w,
            "mission": self.mission,
            "title": title,
            "description": description or self.mission,
            "canonical": self.absolute(f"/{lang}/{rest}"),
            "alternates": [{"lang": lg, "href": self.absolute(f"/{lg}/{rest}")} for lg in have],
            "x_default": self.absolute(f"/{have[0]}/{rest}") if have else "",
            "og_type": og_type,
            "og_locale": i18n.OG_LOCALES.get(lang, lang),
            "css_url": self.css_url,
            "langs": [
                {
                    "code": lg,
                    "name": i18n.language_name(lg),
                    "href": f"/{lg}/{rest}",
                    "current": lg == lang,
                    "dir": i18n.direction(lg),
                }
                for lg in self.languages
            ],
            "nav": [{"label": w[key], "href": f"/{lang}/{path}", "current": sec == section} for key, path, sec in NAV],
            "note": note,
            "note_links": note_links,
            "query": query,
            "banner": self.banner(snap, lang) if snap is not None else [],
            "mirror": self.mirror,
        }

    def banner(self, snap: Snapshot, lang: str) -> list[dict[str, Any]]:
        """The site-wide alert banner: every alert current when ``snap`` was read."""
        w = i18n.words(lang)
        out = []
        for a in snap.banner_alerts()[:3]:
            t = a.pick(lang, self.languages)
            if t is None or t.withdrawn is not None:
                continue
            out.append({
                "title": t.title, "lang": t.lang, "dir": i18n.direction(t.lang), "href": f"/{lang}/news/{a.slug}",
                "severity": a.severity or "warning", "severity_label": w["severity_" + (a.severity or "warning")],
                "concerns": w("concerns", countries=", ".join(a.countries)) if a.countries else "",
                "until": w("until", date=i18n.format_date(a.expires, lang)) if a.expires else "",
            })  # fmt: skip
        return out

    def render(self, template: str, frame: dict[str, Any], **context: Any) -> bytes:
        return self.env.get_template(template).render(f=frame, **context).encode("utf-8")

    # -- content as template values ----------------------------------------------------------------

    def page_view(self, page: Page, t: Translation) -> dict[str, Any]:
        return {
            "slug": page.slug,
            "lang": t.lang,
            "dir": i18n.direction(t.lang),
            "title": t.title,
            "summary": t.summary,
            "body": t.body_html,
            **self._record(t),
        }

    def _record(self, t: Translation) -> dict[str, Any]:
        """The statement, history and withdrawal of the edition shown."""
        history = [
            {"date": i18n.format_date(h.published, t.lang), "when": h.published, "note": h.change_note,
             "statement_id": h.statement_id, "withdrawal": h.withdrawal, "edition": h.edition}
            for h in t.history
        ]  # fmt: skip
        withdrawn = None
        if t.withdrawn is not None:
            withdrawn = {"date": i18n.format_date(t.withdrawn.when, t.lang), "when": t.withdrawn.when,
                         "reason": t.withdrawn.reason, "statement_id": t.withdrawn.statement_id}  # fmt: skip
        return {"statement_id": t.statement_id, "history": history, "withdrawn": withdrawn,
                "updated": t.updated, "updated_date": i18n.format_date(t.updated, t.lang)}  # fmt: skip

    def news_view(self, item: NewsItem, t: Translation) -> dict[str, Any]:
        return {
            "slug": item.slug,
            "kind": item.kind,
            "lang": t.lang,
            "dir": i18n.direction(t.lang),
            "lang_name": i18n.language_name(t.lang),
            "title": t.title,
            "summary": t.summary,
            "body": t.body_html,
            "published": item.published,
            "date": i18n.format_date(item.published, t.lang),
            "severity": item.severity,
            **self._record(t),
        }


def mark_snippet(snippet: str) -> Markup:
    """FTS5 snippet markers (\\x02 ... \\x03) as <mark>, everything else escaped."""
    marked = str(escape(snippet)).replace("\x02", "<mark>").replace("\x03", "</mark>")
    return Markup(marked)  # noqa: S704 - escaped first; only our two markers become tags
