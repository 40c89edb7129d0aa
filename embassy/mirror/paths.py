"""Where each URL of the public site lands in a static mirror, and the links rewritten to reach it.

A static host (an S3 website endpoint, ``python -m http.server``, a folder opened in a browser)
serves a file by its name and its type by its extension, ignores query strings and knows no
routes. So every mirrored URL becomes a file whose name ends in what it is (``/en/news/visa`` is
``en/news/visa.html``, ``/en/`` is ``en/index.html``), and every link between mirrored pages is
made relative to the page that holds it (``../news/visa.html``): the mirror works under any
prefix, on any host, and from a downloaded copy. Links to what a mirror cannot hold (the staff
area, a case look-up) stay as they were. Names are built here from an allow-list of routes,
never taken from a store: :func:`check_name` is what a target accepts.
"""

import posixpath
import re
from urllib.parse import urlsplit

from embassy.mirror.errors import MirrorError

MANIFEST_NAME = "embassy-mirror.json"
ROOT_INDEX = "index.html"

_SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_LANG = r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*"
# (URL path pattern, file name template); {0}, {1} are the pattern's groups
_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (rf"^/({_LANG})/$", "{0}/index.html"),
        (rf"^/({_LANG})/news/$", "{0}/news/index.html"),
        (rf"^/({_LANG})/news/({_SLUG})$", "{0}/news/{1}.html"),
        (rf"^/({_LANG})/pages/({_SLUG})$", "{0}/pages/{1}.html"),
        (rf"^/({_LANG})/contact$", "{0}/contact.html"),
        (rf"^/({_LANG})/search$", "{0}/search.html"),
        (rf"^/feed/({_LANG})\.atom$", "feed/{0}.atom"),
        (rf"^/feed/alerts/({_LANG})\.atom$", "feed/alerts/{0}.atom"),
        (r"^/statements/([0-9a-f]{16})\.json$", "statements/{0}.json"),
        (r"^/media/([0-9a-f]{24}\.(?:jpg|png|webp))$", "media/{0}"),
        (r"^/static/([a-z0-9-]+\.(?:css|js))$", "static/{0}"),
        (r"^/\.well-known/embassy-keys\.json$", ".well-known/embassy-keys.json"),
        (r"^/favicon\.svg$", "favicon.svg"),
        (r"^/sitemap\.xml$", "sitemap.xml"),
        (r"^/robots\.txt$", "robots.txt"),
    )
)
_NEWS_PAGE = re.compile(rf"^/({_LANG})/news/$")
_PAGE_NO = re.compile(r"^page=([2-9]|[1-9][0-9]{1,4})$")
_NAME = re.compile(
    rf"^(?:{ROOT_INDEX}|{re.escape(MANIFEST_NAME)}|\.well-known/embassy-keys\.json"
    r"|[a-z0-9-]+(?:/[a-z0-9-]+)*(?:\.[a-z0-9]+)+)$"
)
# href="/...", src="/...", action="/..." (the renderer always quotes with "), and srcset's lists
_LINK = re.compile(r'\b(href|src|action)="(/[^"]*)"')
_SRCSET = re.compile(r'\bsrcset="([^"]*)"')


class MirrorNameError(MirrorError, ValueError):
    """A file name no mirror holds (a store's listing, a manifest's entry)."""


def file_for(url: str) -> str | None:
    """The mirror's file for a site URL (path and query, no host), or None when a mirror has none."""
    parts = urlsplit(url)
    path, query = parts.path, parts.query
    if query:
        news = _NEWS_PAGE.match(path)
        page = _PAGE_NO.match(query)
        if news and page:
            return f"{news.group(1)}/news/page-{page.group(1)}.html"
        if not (path.startswith("/static/") or path.endswith("/search")):
            return None  # a query a static file cannot answer; the static assets' ?v= and search's ?q= are dropped
    for pattern, name in _ROUTES:
        m = pattern.match(path)
        if m:
            return name.format(*m.groups())
    return None


def check_name(name: str) -> str:
    """``name`` if a mirror may hold it: relative, no '..', no hidden part but .well-known, a known shape."""
    if not _NAME.match(name) or ".." in name or "//" in name:
        raise MirrorNameError(f"{name!r} is not a mirror file name")
    return name


def relative(target: str, from_file: str) -> str:
    """The link from ``from_file`` to ``target`` (both mirror file names)."""
    return posixpath.relpath(target, posixpath.dirname(from_file) or ".")


def _rewrite_url(url: str, from_file: str) -> str:
    base, hash_, fragment = url.partition("#")
    target = file_for(base) if base else None
    if target is None:
        return url
    return relative(target, from_file) + hash_ + fragment


def rewrite_links(html: str, from_file: str) -> str:
    """``html`` (a page that will be ``from_file``) with every link to a mirrored URL made relative."""

    def attr(m: re.Match[str]) -> str:
        return f'{m.group(1)}="{_rewrite_url(m.group(2), from_file)}"'

    def srcset(m: re.Match[str]) -> str:
        items = []
        for item in m.group(1).split(","):
            url, _, width = item.strip().partition(" ")
            items.append(
                (_rewrite_url(url, from_file) if url.startswith("/") else url) + (f" {width}" if width else "")
            )
        return f'srcset="{", ".join(items)}"'

    return _SRCSET.sub(srcset, _LINK.sub(attr, html))


def site_links(html: str) -> list[str]:
    """The site-absolute URLs (``/...``) an HTML page links to or loads."""
    found = [m.group(2) for m in _LINK.finditer(html)]
    for m in _SRCSET.finditer(html):
        found += [u for item in m.group(1).split(",") if (u := item.strip().partition(" ")[0]).startswith("/")]
    return [u.partition("#")[0] for u in found if not u.startswith("//")]
