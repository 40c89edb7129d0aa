"""Rendering the static mirror: the real site, in mirror mode, crawled over loopback.

The app is the one ``embassy serve`` runs (``create_app(..., mirror=True)``: the contact page
without forms but with the mission's phone and e-mail, a search page that lists everything, a
note on every page), served by the same runner on 127.0.0.1 and a free port for the crawl only,
and stopped afterwards. The crawl starts from every language's home, news, contact and search
pages, the feeds, the sitemap, the keys, the icon and every statement, and follows every site link of every page
it fetches (pages, statements, images, stylesheets), so what a mirror holds is what a visitor can
reach. HTML gets its links made relative (``embassy/mirror/paths.py``); everything else is kept
byte for byte (statements, feeds, the keys document: their bytes are what is signed or compared).
"""

import asyncio
import html
import re
import socket
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from embassy.config import Config
from embassy.mirror.errors import MirrorError
from embassy.mirror.paths import ROOT_INDEX, file_for, relative, rewrite_links, site_links
from embassy.web import i18n
from embassy.web.app import create_app
from embassy.web.protocol import site_runner
from embassy.web.site import SITE
from keys.statement_keys import ServingKeys

CONCURRENCY = 8
MAX_FILES = 100_000
_LOC = re.compile(r"<(?:loc)>([^<]+)</loc>|\bhref=\"([^\"]+)\"")


class RenderError(MirrorError):
    """The site could not be rendered (a page answered with an error other than 404 or 410)."""


@dataclass(frozen=True, slots=True)
class MirrorFile:
    body: bytes
    content_type: str
    url: str  # the site URL it was rendered from ("" for the root index)


@dataclass
class RenderedSite:
    files: dict[str, MirrorFile] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # linked URLs that answered 404/410 (gone, withdrawn)


def seeds(config: Config) -> list[str]:
    out = ["/.well-known/embassy-keys.json", "/favicon.svg", "/sitemap.xml", "/robots.txt"]
    for lang in config.mission.languages:
        out += [f"/{lang}/", f"/{lang}/news/", f"/{lang}/contact", f"/{lang}/search",
                f"/feed/{lang}.atom", f"/feed/alerts/{lang}.atom"]  # fmt: skip
    return out


async def render_site(config: Config, keys: ServingKeys) -> RenderedSite:
    """Every file of the mirror, rendered by the site itself."""
    app = create_app(config, keys, mirror=True)
    runner = site_runner(app, config.server)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))  # a free port of the loopback, for this crawl only
        port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        # every statement, also those no page links to (the home and contact pages show none)
        statements = await app[SITE].content.call(lambda repo: repo.statement_ids())
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", auto_decompress=True) as session:
            rendered = await _crawl(session, config, [f"/statements/{sid}.json" for sid in statements])
    finally:
        await runner.cleanup()
        sock.close()
    rendered.files[ROOT_INDEX] = MirrorFile(root_index(config), "text/html; charset=utf-8", "")
    return rendered


async def _crawl(session: aiohttp.ClientSession, config: Config, also: list[str]) -> RenderedSite:
    out = RenderedSite()
    public = config.server.public_url.rstrip("/")
    queued: set[str] = set()
    todo: list[str] = []

    def want(url: str) -> None:
        if url.startswith(public + "/"):
            url = url[len(public) :]
        name = file_for(url) if url.startswith("/") else None
        if name is not None and name not in queued:
            if len(queued) >= MAX_FILES:
                raise RenderError(f"the site links more than {MAX_FILES} files; refusing to mirror it")
            queued.add(name)
            todo.append(url)

    for url in [*seeds(config), *also]:
        want(url)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def get(url: str) -> None:
        async with gate, session.get(url, allow_redirects=False) as resp:
            body = await resp.read()
            ctype = resp.headers.get("Content-Type", "application/octet-stream")
            status = resp.status
        name = file_for(url)
        assert name is not None
        if status in (404, 410):  # linked but gone (removed, withdrawn), or a page this mission lacks
            out.skipped.append(url)
            return
        if status != 200:
            raise RenderError(f"rendering {url} answered {status}")
        if ctype.startswith("text/html"):
            text = body.decode("utf-8")
            for link in site_links(text):
                want(html.unescape(link))
            body = rewrite_links(text, name).encode("utf-8")
        elif ctype.startswith(("application/xml", "application/atom+xml")):
            for m in _LOC.finditer(body.decode("utf-8")):
                want(html.unescape(m.group(1) or m.group(2)))
        out.files[name] = MirrorFile(body, ctype, url)

    while todo:
        batch, todo[:] = list(todo), []
        await asyncio.gather(*(get(u) for u in batch))
    return out


def root_index(config: Config) -> bytes:
    """The mirror's own front page: a link to each language's home (the live site's ``/`` picks one
    by the browser's Accept-Language, which a static host cannot)."""
    langs = config.mission.languages
    items = "\n".join(
        f'<li><a href="{relative(f"{lg}/index.html", ROOT_INDEX)}" hreflang="{lg}" lang="{lg}" '
        f'dir="{i18n.direction(lg)}">{html.escape(i18n.language_name(lg))}</a></li>'
        for lg in langs
    )
    name = html.escape(config.mission.name)
    return (
        f'<!doctype html>\n<html lang="{langs[0]}" dir="{i18n.direction(langs[0])}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{name}</title>\n'
        '<link rel="stylesheet" href="static/site.css">\n'
        f'</head>\n<body>\n<main class="wrap">\n<h1>{name}</h1>\n<ul>\n{items}\n</ul>\n</main>\n</body>\n</html>\n'
    ).encode()
