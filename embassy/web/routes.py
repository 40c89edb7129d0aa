"""Every URL of the public site (docs/web.md, "Public URLs"), in one table; the staff area and the API
are sub-applications with tables of their own (embassy/web/staff/routes.py, embassy/web/api/endpoints.py)."""

from aiohttp import web

from embassy.web.views import contact, feeds, machine, public


async def _to_staff(request: web.Request) -> web.Response:
    return web.Response(status=301, headers={"Location": "/staff/"})


async def _to_api(request: web.Request) -> web.Response:
    return web.Response(status=301, headers={"Location": "/api/v1/"})


def setup_routes(app: web.Application) -> None:
    r = app.router
    # Fixed paths first: the language routes below would otherwise take their first segment.
    r.add_get("/", public.root, name="root")
    r.add_get("/healthz", machine.healthz, name="healthz")
    r.add_get("/metrics", machine.metrics, name="metrics")
    r.add_get("/robots.txt", feeds.robots, name="robots")
    r.add_get("/sitemap.xml", feeds.sitemap, name="sitemap")
    r.add_get("/favicon.svg", machine.favicon, name="favicon")
    r.add_get("/static/{name}", machine.static, name="static")
    r.add_get("/feed/alerts/{lang}.atom", feeds.feed, name="feed_alerts")
    r.add_get("/feed/{lang}.atom", feeds.feed, name="feed")
    r.add_get("/statements/{id}.json", machine.statement, name="statement")
    r.add_get("/media/{name}", machine.media, name="media")
    r.add_get("/.well-known/embassy-keys.json", machine.embassy_keys, name="keys")
    r.add_get("/staff", _to_staff, name="staff_slash")
    r.add_get("/api/v1", _to_api, name="api_slash")
    # /{lang}/...
    r.add_get("/{lang}", public.add_slash, name="lang_slash")
    r.add_get("/{lang}/", public.home, name="home")
    r.add_get("/{lang}/news", public.add_slash, name="news_slash")
    r.add_get("/{lang}/news/", public.news_list, name="news_list")
    r.add_get("/{lang}/news/{slug}", public.news_item, name="news_item")
    r.add_get("/{lang}/pages/{slug}", public.page, name="page")
    r.add_get("/{lang}/contact", contact.contact, name="contact")
    r.add_post("/{lang}/contact", contact.contact_post, name="contact_post")
    r.add_get("/{lang}/case", contact.case, name="case")
    r.add_post("/{lang}/case", contact.case_post, name="case_post")
    r.add_get("/{lang}/search", public.search, name="search")
