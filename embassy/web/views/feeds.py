"""Feeds and discovery: Atom per language (and alerts only), the sitemap with hreflang, robots.txt."""

import xml.etree.ElementTree as ET

from aiohttp import web

from embassy.content.model import ALERT, NewsItem, Snapshot, Translation
from embassy.web import i18n
from embassy.web.cache import CachedResponse, build_entry
from embassy.web.site import SITE, Site

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML = "http://www.w3.org/1999/xhtml"
FEED_ENTRIES = 50


def _lang(request: web.Request, site: Site) -> str:
    lang = request.match_info["lang"]
    if lang not in site.languages:
        raise web.HTTPNotFound()
    return lang


def atom_feed(site: Site, snap: Snapshot, lang: str, alerts_only: bool) -> bytes:
    r = site.renderer
    w = i18n.words(lang)
    items: list[NewsItem] = [n for n in snap.news if lang in n.translations and (not alerts_only or n.kind == ALERT)]
    # An entry is updated by a major edition or a withdrawal (a minor edition changes the text only).
    items = sorted(items, key=lambda n: entry_updated(n.translations[lang]), reverse=True)[:FEED_ENTRIES]
    self_path = f"/feed/alerts/{lang}.atom" if alerts_only else f"/feed/{lang}.atom"
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    ET.SubElement(feed, f"{{{ATOM}}}id").text = r.absolute(self_path)
    title = f"{site.config.mission.name}: {w['alerts'] if alerts_only else w['news']}"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    updated = max((entry_updated(n.translations[lang]) for n in items), default=snap.last_modified)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = site.config.mission.name
    ET.SubElement(
        feed, f"{{{ATOM}}}link", {"rel": "self", "type": "application/atom+xml", "href": r.absolute(self_path)}
    )
    ET.SubElement(
        feed, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": r.absolute(f"/{lang}/news/")}
    )
    for n in items:
        t = n.translations[lang]
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        # one entry per item and language whatever its editions, so a reader sees an update, not a new item
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:embassy:item:{n.item}:{lang}" if n.item else r.absolute(f"/{lang}/news/{n.slug}")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = t.title
        ET.SubElement(entry, f"{{{ATOM}}}published").text = n.published
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = entry_updated(t)
        ET.SubElement(
            entry,
            f"{{{ATOM}}}link",
            {"rel": "alternate", "type": "text/html", "href": r.absolute(f"/{lang}/news/{n.slug}")},
        )
        for other in n.translations:
            if other != lang:
                ET.SubElement(
                    entry, f"{{{ATOM}}}link",
                    {"rel": "alternate", "type": "text/html", "hreflang": other, "href": r.absolute(f"/{other}/news/{n.slug}")},
                )  # fmt: skip
        if t.statement_id:
            ET.SubElement(
                entry, f"{{{ATOM}}}link",
                {"rel": "related", "type": "application/json", "href": r.absolute(f"/statements/{t.statement_id}.json")},
            )  # fmt: skip
        ET.SubElement(entry, f"{{{ATOM}}}category", {"term": n.kind})
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = entry_summary(t, w)
        ET.SubElement(entry, f"{{{ATOM}}}content", {"type": "html"}).text = t.body_html
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + bytes(
        ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    )


def entry_updated(t: Translation) -> str:
    return t.withdrawn.when if t.withdrawn is not None else (t.major_updated or t.updated)


def entry_summary(t: Translation, w: i18n.Words) -> str:
    """The summary, or what changed: the withdrawal's reason, the newest major edition's change note."""
    if t.withdrawn is not None:
        return f"{w['withdrawn_title']}: {t.withdrawn.reason}"
    latest = next((h for h in t.history if not h.withdrawal), None)
    if latest is not None and latest.edition > 1 and latest.change_note:
        return f"{w['updated']}: {latest.change_note} — {t.summary}"
    return t.summary


async def feed(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = _lang(request, site)
    alerts_only = request.match_info.route.name == "feed_alerts"

    def build(snap: Snapshot) -> CachedResponse:
        body = atom_feed(site, snap, lang, alerts_only)
        return build_entry(
            body, "application/atom+xml; charset=utf-8", snap.last_modified, cache_control="public, max-age=300"
        )

    entry = await site.cached(request, request.path, build)
    return entry.respond(request)


def sitemap_xml(site: Site, snap: Snapshot) -> bytes:
    r = site.renderer
    langs = site.languages
    ET.register_namespace("", SITEMAP)
    ET.register_namespace("xhtml", XHTML)
    urlset = ET.Element(f"{{{SITEMAP}}}urlset")

    def add(rest: str, available: list[str], lastmod: str) -> None:
        for lang in available:
            url = ET.SubElement(urlset, f"{{{SITEMAP}}}url")
            ET.SubElement(url, f"{{{SITEMAP}}}loc").text = r.absolute(f"/{lang}/{rest}")
            ET.SubElement(url, f"{{{SITEMAP}}}lastmod").text = lastmod
            for other in available:
                ET.SubElement(
                    url,
                    f"{{{XHTML}}}link",
                    {"rel": "alternate", "hreflang": other, "href": r.absolute(f"/{other}/{rest}")},
                )
            ET.SubElement(
                url,
                f"{{{XHTML}}}link",
                {"rel": "alternate", "hreflang": "x-default", "href": r.absolute(f"/{available[0]}/{rest}")},
            )

    add("", list(langs), snap.last_modified)
    add("news/", list(langs), snap.last_modified)
    add("contact", list(langs), snap.last_modified)
    for p in sorted(snap.pages.values(), key=lambda p: (p.position, p.slug)):
        if p.slug in ("home", "contact"):
            continue
        have = [lg for lg in langs if lg in p.translations]
        if have:
            add(f"pages/{p.slug}", have, max(p.translations[lg].updated for lg in have))
    for n in snap.news:
        have = [lg for lg in langs if lg in n.translations]
        if have:
            add(f"news/{n.slug}", have, max(n.translations[lg].updated for lg in have))
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + bytes(
        ET.tostring(urlset, encoding="utf-8", xml_declaration=False)
    )


async def sitemap(request: web.Request) -> web.Response:
    site = request.app[SITE]

    def build(snap: Snapshot) -> CachedResponse:
        return build_entry(
            sitemap_xml(site, snap),
            "application/xml; charset=utf-8",
            snap.last_modified,
            cache_control="public, max-age=3600",
        )

    return (await site.cached(request, request.path, build)).respond(request)


async def robots(request: web.Request) -> web.Response:
    site = request.app[SITE]

    def build(snap: Snapshot) -> CachedResponse:
        text = (
            "User-agent: *\nDisallow: /staff/\nDisallow: /api/\nAllow: /\n\n"
            f"Sitemap: {site.renderer.absolute('/sitemap.xml')}\n"
        )
        return build_entry(
            text.encode(), "text/plain; charset=utf-8", snap.last_modified, cache_control="public, max-age=86400"
        )

    return (await site.cached(request, request.path, build)).respond(request)
