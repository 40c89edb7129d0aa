"""Markup rules for stored content: a small safe HTML subset in, plain text out for search."""

import html
import re

import nh3

ALLOWED_TAGS = {
    "p", "h2", "h3", "ul", "ol", "li", "a", "strong", "em", "br", "dl", "dt", "dd",
    "table", "thead", "tbody", "tr", "th", "td", "caption", "abbr", "address", "blockquote",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "hreflang"}, "abbr": {"title"}, "th": {"scope"}, "td": {"colspan"}}
_SPACE = re.compile(r"\s+")


def sanitise_html(body: str) -> str:
    """Keep only the allowed tags and attributes; links may use http(s), mailto, tel or be relative."""
    return nh3.clean(
        body,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
    ).strip()


def html_to_text(body: str) -> str:
    """The words of ``body`` for the search index and summaries."""
    return _SPACE.sub(" ", html.unescape(nh3.clean(body.replace("<", " <"), tags=set()))).strip()
