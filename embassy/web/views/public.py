"""The public pages: home, news, pages and search, in every configured language (contact and case:
contact.py)."""

from typing import Any

from aiohttp import web

from embassy.content.model import ALERT, NewsItem, Page, Snapshot, Translation
from embassy.web import i18n, params
from embassy.web.cache import CachedResponse, build_entry
from embassy.web.ratelimit import address_key, too_many_requests
from embassy.web.render import mark_snippet
from embassy.web.site import SITE, Site

HTML = "text/html; charset=utf-8"
NEWS_PER_PAGE = 10
MAX_NEWS_PAGE = 10000


def _lang(request: web.Request, site: Site) -> str:
    lang = request.match_info["lang"]
    if lang not in site.languages:
        raise web.HTTPNotFound()
    return lang


def _html(site: Site, body: bytes, snap: Snapshot, status: int = 200) -> CachedResponse:
    return build_entry(body, HTML, snap.last_modified, status=status)


async def _serve(request: web.Request, site: Site, lang: str, page: str, key: str, build: Any) -> web.Response:
    entry = await site.cached(request, key, build)
    if entry.status == 200:
        site.count_view(request, page, lang)
    return entry.respond(request)


async def root(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = i18n.negotiate(request.headers.get("Accept-Language"), site.languages)
    return web.Response(
        status=302,
        headers={"Location": f"/{lang}/", "Vary": "Accept-Language", "Cache-Control": "private, max-age=0"},
    )


async def add_slash(request: web.Request) -> web.Response:
    site = request.app[SITE]
    _lang(request, site)
    return web.Response(status=301, headers={"Location": request.path + "/", "Cache-Control": "public, max-age=3600"})


async def home(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = _lang(request, site)
    r, order = site.renderer, site.languages

    def build(snap: Snapshot) -> CachedResponse:
        page = snap.page("home")
        t = page.pick(lang, order) if page else None
        if page is None or t is None:
            raise web.HTTPNotFound()
        services = []
        for child in snap.children("consular"):
            ct = child.pick(lang, order)
            if ct:
                services.append(r.page_view(child, ct))
        news = [r.news_view(n, nt) for n in snap.news[:5] if (nt := n.pick(lang, order))]
        alerts = [r.news_view(a, at) for a in snap.alerts()[:2] if (at := a.pick(lang, order))]
        frame = r.frame(
            lang, "", title="", description=t.summary, section="home", available=page.translations, shown=t.lang,
            snap=snap,
        )
        body = r.render("home.html", frame, page=r.page_view(page, t), services=services, news=news, alerts=alerts)
        return _html(site, body, snap)

    return await _serve(request, site, lang, "", request.path, build)


async def news_list(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = _lang(request, site)
    r, order = site.renderer, site.languages
    page_no = params.integer(params.query(request), "page", default=1)  # 400 unless digits 0-9
    if not 1 <= page_no <= MAX_NEWS_PAGE:
        raise web.HTTPNotFound()

    def build(snap: Snapshot) -> CachedResponse:
        start = (page_no - 1) * NEWS_PER_PAGE
        items = snap.news[start : start + NEWS_PER_PAGE]
        if page_no > 1 and not items:
            raise web.HTTPNotFound()
        news = [r.news_view(n, nt) for n in items if (nt := n.pick(lang, order))]
        newer = (f"/{lang}/news/" + (f"?page={page_no - 1}" if page_no > 2 else "")) if page_no > 1 else None
        older = f"/{lang}/news/?page={page_no + 1}" if start + NEWS_PER_PAGE < len(snap.news) else None
        w = i18n.words(lang)
        frame = r.frame(lang, "news/", title=w["news"], description=w["latest_news"], section="news", snap=snap)
        body = r.render("news_list.html", frame, news=news, page_no=page_no, newer=newer, older=older)
        return _html(site, body, snap)

    key = request.path if page_no == 1 else f"{request.path}?page={page_no}"
    return await _serve(request, site, lang, "news/", key, build)


def news_body(site: Site, snap: Snapshot, lang: str, item: NewsItem, t: Translation) -> bytes:
    """A news item's page: what the site serves, and what a staff preview shows of an edition."""
    r = site.renderer
    frame = r.frame(
        lang, f"news/{item.slug}", title=t.title, description=t.summary,
        section="travel" if item.kind == ALERT else "news", available=item.translations, shown=t.lang,
        og_type="article", snap=snap,
    )  # fmt: skip
    return r.render("news_item.html", frame, item=r.news_view(item, t))


def page_body(site: Site, snap: Snapshot, lang: str, p: Page, t: Translation) -> bytes:
    """A page: what the site serves, and what a staff preview shows of an edition."""
    r, order = site.renderer, site.languages
    children = [r.page_view(c, ct) for c in snap.children(p.slug) if (ct := c.pick(lang, order))]
    alerts = None
    if p.section == "travel":
        alerts = [r.news_view(a, at) for a in snap.alerts()[:10] if (at := a.pick(lang, order))]
    frame = r.frame(
        lang, f"pages/{p.slug}", title=t.title, description=t.summary, section=p.section,
        available=p.translations, shown=t.lang, snap=snap,
    )  # fmt: skip
    return r.render("page.html", frame, page=r.page_view(p, t), children=children, alerts=alerts)


def _gone(site: Site, snap: Snapshot, lang: str) -> CachedResponse:
    """An item removed for legal reasons: 410 with a short explanation, kept in the cache like any page."""
    return _html(site, error_page(site, lang, 410), snap, status=410)


async def news_item(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = _lang(request, site)
    slug = request.match_info["slug"]
    order = site.languages

    def build(snap: Snapshot) -> CachedResponse:
        if snap.is_removed("news", slug):
            return _gone(site, snap, lang)
        item = snap.news_item(slug)
        t = item.pick(lang, order) if item else None
        if item is None or t is None:
            raise web.HTTPNotFound()
        return _html(site, news_body(site, snap, lang, item, t), snap)

    return await _serve(request, site, lang, f"news/{slug}", request.path, build)


async def page(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = _lang(request, site)
    slug = request.match_info["slug"]
    if slug == "contact":
        return web.Response(status=301, headers={"Location": f"/{lang}/contact"})
    if slug == "home":
        return web.Response(status=301, headers={"Location": f"/{lang}/"})
    order = site.languages

    def build(snap: Snapshot) -> CachedResponse:
        if snap.is_removed("pages", slug):
            return _gone(site, snap, lang)
        p = snap.page(slug)
        t = p.pick(lang, order) if p else None
        if p is None or t is None:
            raise web.HTTPNotFound()
        return _html(site, page_body(site, snap, lang, p, t), snap)

    return await _serve(request, site, lang, f"pages/{slug}", request.path, build)


async def search(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = _lang(request, site)
    r = site.renderer
    w = i18n.words(lang)
    query = params.text(params.query(request), "q", max_chars=200)
    if site.search_limiter is not None and not site.resolver.is_loopback(request):
        verdict = site.search_limiter.take(address_key(site.resolver.client(request)))
        if not verdict.allowed:
            raise too_many_requests(verdict)
    hits: list[dict[str, Any]] = []
    if site.mirror:  # a static copy cannot search: it lists everything instead
        query = ""
        hits = everything(site, await site.content.snapshot(), lang)
    elif query:
        found = await site.content.call(lambda repo: repo.search(lang, query))
        for h in found:
            href = f"/{lang}/pages/{h.slug}" if h.kind == "page" else f"/{lang}/news/{h.slug}"
            hits.append({"kind": h.kind, "href": href, "title": h.title, "snippet": mark_snippet(h.snippet)})
    snap = await site.content.snapshot()
    frame = r.frame(lang, "search", title=w["search_results"], description=w["search_label"], query=query, snap=snap)
    body = r.render("search.html", frame, hits=hits)
    site.count_view(request, "search", lang)  # the query itself is never stored
    return web.Response(body=body, headers={"Content-Type": HTML, "Cache-Control": "no-store"})


def everything(site: Site, snap: Snapshot, lang: str) -> list[dict[str, Any]]:
    """Every page and news item shown in ``lang``, as search hits: the search page of a static mirror."""
    order = site.languages
    out: list[dict[str, Any]] = []
    for p in sorted(snap.pages.values(), key=lambda p: (p.position, p.slug)):
        if p.slug not in ("home", "contact") and (t := p.pick(lang, order)) is not None:
            out.append({"kind": "page", "href": f"/{lang}/pages/{p.slug}", "title": t.title,
                        "snippet": mark_snippet(t.summary)})  # fmt: skip
    for n in snap.news:
        if (t := n.pick(lang, order)) is not None:
            out.append({"kind": n.kind, "href": f"/{lang}/news/{n.slug}", "title": t.title,
                        "snippet": mark_snippet(t.summary)})  # fmt: skip
    return out


def error_page(site: Site, lang: str, status: int) -> bytes:
    w = i18n.words(lang)
    words_of = {404: "not_found", 400: "bad_request", 415: "bad_request", 413: "too_large", 429: "too_many", 410: "gone"}
    key = words_of.get(status, "error")
    heading, text = w[key], w[f"{key}_text"]
    r = site.renderer
    frame = r.frame(lang, "", title=heading, description=text)
    frame["canonical"] = r.absolute(f"/{lang}/")
    frame["alternates"] = []
    frame["x_default"] = ""
    return r.render("error.html", frame, heading=heading, text=text)
