"""Markup rules for stored content: Markdown in, a small safe HTML subset out, plain text for search.

A body is written in Markdown (CommonMark with tables; inline HTML is allowed but goes through the
same sanitiser, so only the allow-list below survives). Headings move down one level (the page's
title is its only ``h1``). Images are the mission's own uploads only, written ``![alt text](image:ID)``
with the alt text in the body's language; :func:`body_problems` names an image that is not uploaded,
an external one, or one without alt text, and :func:`render_markdown` turns each into an ``<img>``
with its resized variants. What the sanitiser keeps is what the public page shows, so a preview
made with these functions is the public page.
"""

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_TAGS = {
    "p", "h2", "h3", "h4", "ul", "ol", "li", "a", "strong", "em", "br", "dl", "dt", "dd", "hr", "code", "pre",
    "table", "thead", "tbody", "tr", "th", "td", "caption", "abbr", "address", "blockquote", "img",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "hreflang"},
    "abbr": {"title"},
    "th": {"scope"},
    "td": {"colspan"},
    "img": {"src", "srcset", "sizes", "width", "height", "alt", "loading", "decoding"},
}
MEDIA_PREFIX = "/media/"
IMAGE_SCHEME = "image:"
IMAGE_SIZES = "(max-width: 46rem) 100vw, 46rem"
_SPACE = re.compile(r"\s+")
_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")  # on nh3's normalised output: a foreign image, dropped


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An uploaded image as a body shows it: its variants (width, /media/ name), widest last."""

    id: str
    width: int
    height: int
    variants: tuple[tuple[int, str], ...]

    def markup(self, alt: str) -> str:
        src_width, src = next(((w, n) for w, n in self.variants if w >= 960), self.variants[-1])
        srcset = ", ".join(f"{MEDIA_PREFIX}{n} {w}w" for w, n in self.variants)
        height = round(self.height * src_width / self.width)
        return (
            f'<img src="{MEDIA_PREFIX}{src}" srcset="{srcset}" sizes="{IMAGE_SIZES}" width="{src_width}" '
            f'height="{height}" alt="{html.escape(alt, quote=True)}" loading="lazy" decoding="async">'
        )


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Images come from our own /media/ only; everything else nh3 has already checked."""
    if tag == "img" and attribute in ("src", "srcset"):
        parts = [p.strip().split(" ")[0] for p in value.split(",")] if attribute == "srcset" else [value]
        return value if all(p.startswith(MEDIA_PREFIX) and ".." not in p for p in parts) else None
    return value


def sanitise_html(body: str) -> str:
    """Keep only the allowed tags and attributes; links may use http(s), mailto, tel or be relative."""
    clean = nh3.clean(
        body,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
        attribute_filter=_keep_attribute,
    )
    return _IMG_WITHOUT_SRC.sub("", clean).strip()


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable("table")

    def shift_headings(state: Any) -> None:
        for token in state.tokens:
            if token.type in ("heading_open", "heading_close"):
                token.tag = f"h{min(int(token.tag[1]) + 1, 4)}"

    def image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = self.renderInlineAsText(token.children or [], options, env)
        ref = env.get("images", {}).get(src.removeprefix(IMAGE_SCHEME)) if src.startswith(IMAGE_SCHEME) else None
        return ref.markup(alt.strip()) if ref is not None and alt.strip() else ""

    md.core.ruler.push("shift_headings", shift_headings)
    md.add_render_rule("image", image)
    return md


_MD = _markdown()


def render_markdown(source: str, images: Mapping[str, ImageRef]) -> str:
    """The body as sanitised HTML, the one form the site stores and shows."""
    return sanitise_html(_MD.render(source, {"images": images}))


def image_ids(source: str) -> list[str]:
    """The uploaded images a body shows (``image:ID``), in order."""
    return [src.removeprefix(IMAGE_SCHEME) for src, _ in _images(source) if src.startswith(IMAGE_SCHEME)]


def body_problems(source: str, known: Mapping[str, ImageRef]) -> list[str]:
    """What keeps a body from being published as written: images not uploaded here, or without alt text."""
    problems = []
    for src, alt in _images(source):
        if not src.startswith(IMAGE_SCHEME):
            problems.append(f"the image {src[:80]!r} is not one of this item's uploads: upload it and use ![alt](image:ID)")
        elif src.removeprefix(IMAGE_SCHEME) not in known:
            problems.append(f"no uploaded image {src.removeprefix(IMAGE_SCHEME)[:40]!r} in this item")
        elif not alt.strip():
            problems.append(f"the image {src.removeprefix(IMAGE_SCHEME)!r} has no alt text: describe it in this language")
    return problems


def _images(source: str) -> list[tuple[str, str]]:
    out = []
    for block in _MD.parse(source):
        for token in block.children or []:
            if token.type == "image":
                alt = "".join(c.content for c in token.children or [])
                out.append((str(token.attrGet("src") or ""), alt))
    return out


def html_to_text(body: str) -> str:
    """The words of ``body`` for the search index and summaries."""
    return _SPACE.sub(" ", html.unescape(nh3.clean(body.replace("<", " <"), tags=set()))).strip()
