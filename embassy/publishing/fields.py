"""What staff type, checked before anything is stored: lengths, characters, slugs, alert settings.

Titles, summaries, change notes and reasons are plain text (the pages escape them: markup typed there
shows as text); bodies are Markdown (``embassy/content/text.py`` renders and sanitises them).
Reasons (urgent publication, withdrawal, removal) go whole into the audit log, so they are short.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from embassy.content.model import KINDS, SEVERITIES
from embassy.publishing.errors import InvalidFieldError

MAX_TITLE = 200
MAX_SUMMARY = 600
MAX_BODY = 100_000
MAX_NOTE = 500
MAX_REASON = 200  # the audit log keeps details of up to 200 characters: a reason is kept whole
MAX_SLUG = 80
MAX_COUNTRIES = 30
SECTIONS = ("home", "about", "consular", "travel", "contact")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANG_RE = re.compile(r"^[a-z]{2,3}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_CONTROL_BODY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Kazakh and Russian letters for slugs made from titles (a slug is ASCII so that it reads in any URL bar).
_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya", "a", "g", "q", "n", "o", "u", "u", "h", "i"],
    strict=True,
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Draft:
    """The text of an edition as written."""

    title: str
    summary: str
    body: str  # Markdown
    change_note: str = ""
    major: bool = True


@dataclass(frozen=True, slots=True)
class AlertSettings:
    severity: str = "warning"
    countries: tuple[str, ...] = ()
    expires: str | None = None  # ISO 8601 UTC


@dataclass(frozen=True, slots=True)
class PagePlace:
    section: str = "about"
    parent: str | None = None
    position: int = 100


def line_text(field: str, value: str, limit: int, *, required: bool = False) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if _CONTROL_LINE.search(value):
        raise InvalidFieldError(field, "control characters or line breaks are not allowed here")
    if len(value) > limit:
        raise InvalidFieldError(field, f"{len(value)} characters; at most {limit}")
    if required and not value:
        raise InvalidFieldError(field, "required")
    return value


def body_text(value: str) -> str:
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip("\n")
    if _CONTROL_BODY.search(value):
        raise InvalidFieldError("body", "control characters are not allowed")
    if len(value) > MAX_BODY:
        raise InvalidFieldError("body", f"{len(value)} characters; at most {MAX_BODY}")
    return value


def check_draft(d: Draft) -> Draft:
    return Draft(
        line_text("title", d.title, MAX_TITLE, required=True),
        line_text("summary", d.summary, MAX_SUMMARY),
        body_text(d.body),
        line_text("change_note", d.change_note, MAX_NOTE),
        bool(d.major),
    )


def reason(field: str, value: str | None) -> str:
    return line_text(field, value or "", MAX_REASON, required=True)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidFieldError("kind", f"{kind[:20]!r} is not one of {', '.join(KINDS)}")
    return kind


def check_lang(lang: str, languages: tuple[str, ...]) -> str:
    if not LANG_RE.match(lang) or lang not in languages:
        raise InvalidFieldError("lang", f"{lang[:10]!r} is not one of the mission's languages ({', '.join(languages)})")
    return lang


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug) or len(slug) > MAX_SLUG:
        raise InvalidFieldError("slug", f"{slug[:90]!r} is not a slug; use lower-case words joined by '-', e.g. 'visa-rules'")
    return slug


def slug_from(title: str) -> str:
    """An ASCII slug from a title in any of the demo's scripts (empty when nothing is left)."""
    out = []
    for ch in unicodedata.normalize("NFKD", title.lower()):
        ch = _TRANSLIT.get(ch, ch)
        if not ch:  # the hard and soft signs
            continue
        if ch.isascii() and (ch.isalnum() or ch == " "):
            out.append(ch)
        elif ch.isspace() or ch in "-_/.,:;":
            out.append(" ")
    return "-".join("".join(out).split())[:60].strip("-")


def check_time(field: str, value: str) -> str:
    """An ISO 8601 time with its offset, as UTC ``2026-12-01T09:00:00Z``."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidFieldError(field, f"{value[:40]!r} is not an ISO 8601 time such as 2026-12-01T09:00:00Z") from e
    if when.tzinfo is None:
        raise InvalidFieldError(field, "give the time zone, e.g. 2026-12-01T09:00:00Z or 2026-12-01T15:00:00+06:00")
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def check_alert(a: AlertSettings) -> AlertSettings:
    if a.severity not in SEVERITIES:
        raise InvalidFieldError("severity", f"{a.severity[:20]!r} is not one of {', '.join(SEVERITIES)}")
    codes = tuple(dict.fromkeys(c.strip().upper() for c in a.countries if c.strip()))
    if len(codes) > MAX_COUNTRIES or not all(COUNTRY_RE.match(c) for c in codes):
        raise InvalidFieldError("countries", f"ISO 3166 two-letter codes such as TR, GE; at most {MAX_COUNTRIES}")
    return AlertSettings(a.severity, codes, check_time("expires", a.expires) if a.expires else None)


def check_place(p: PagePlace) -> PagePlace:
    if p.section not in SECTIONS:
        raise InvalidFieldError("section", f"{p.section[:20]!r} is not one of {', '.join(SECTIONS)}")
    if p.parent is not None and p.parent != "":
        check_slug(p.parent)
    if not 0 <= p.position <= 10_000:
        raise InvalidFieldError("position", "between 0 and 10000")
    return PagePlace(p.section, p.parent or None, p.position)
