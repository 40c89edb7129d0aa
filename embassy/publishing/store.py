"""Reading items and editions as the staff see them (every state), and what their translations lack."""

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from embassy.content.model import PAGE, route_of
from embassy.content.text import ImageRef
from embassy.publishing.errors import NotFoundError

WORKING = ("draft", "submitted", "approved", "scheduled")
PUBLIC = ("published", "withdrawn")
STATES = (*WORKING, "published", "superseded", "withdrawn")


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    kind: str
    slug: str
    section: str
    position: int
    parent: str | None
    severity: str | None
    countries: tuple[str, ...]
    expires: str | None
    created: str
    created_by: str
    first_published: str | None
    removed: str | None
    removed_by: str | None
    removed_reason: str | None

    @property
    def route(self) -> str:
        return route_of(self.kind)

    def path(self, lang: str) -> str:
        return f"/{lang}/{self.route}/{self.slug}"


@dataclass(frozen=True, slots=True)
class Edition:
    item: str
    lang: str
    number: int
    state: str
    title: str
    summary: str
    body_md: str
    body_html: str
    change_note: str
    major: bool
    source_lang: str | None
    source_number: int | None
    author: str
    created: str
    updated: str
    submitted: str | None
    approved_by: str | None
    approved: str | None
    publish_at: str | None
    published: str | None
    published_by: str | None
    urgent_reason: str | None
    reviewed_by: str | None
    reviewed: str | None
    statement_id: str | None
    withdrawn: str | None
    withdrawn_by: str | None
    withdrawn_reason: str | None
    withdrawal_statement: str | None

    @property
    def working(self) -> bool:
        return self.state in WORKING

    @property
    def unreviewed(self) -> bool:
        """Published urgently without approval, and nobody else has reviewed it yet."""
        return self.urgent_reason is not None and self.reviewed is None and self.published is not None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["edition"] = out.pop("number")
        out["unreviewed"] = self.unreviewed
        return out


@dataclass(frozen=True, slots=True)
class ItemDetail:
    item: Item
    editions: tuple[Edition, ...]  # every edition, by language then number

    def line(self, lang: str) -> list[Edition]:
        return [e for e in self.editions if e.lang == lang]

    def working(self, lang: str) -> Edition | None:
        return next((e for e in self.editions if e.lang == lang and e.working), None)

    def public(self, lang: str) -> Edition | None:
        return next((e for e in self.editions if e.lang == lang and e.state in PUBLIC), None)

    def latest(self, lang: str) -> Edition | None:
        line = self.line(lang)
        return line[-1] if line else None

    @property
    def languages(self) -> list[str]:
        return sorted({e.lang for e in self.editions})


@dataclass(frozen=True, slots=True)
class TranslationStatus:
    lang: str
    status: str  # "current" | "outdated" | "missing"
    working: str | None  # the state of an edition in progress, if any
    source: str | None  # for outdated: the language whose newer major edition it lacks

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_ITEM_COLUMNS = (
    "id, kind, slug, section, position, parent, severity, countries, expires, created, created_by, "
    "first_published, removed, removed_by, removed_reason"
)
_EDITION_COLUMNS = (
    "item, lang, number, state, title, summary, body_md, body_html, change_note, major, source_lang, "
    "source_number, author, created, updated, submitted, approved_by, approved, publish_at, published, "
    "published_by, urgent_reason, reviewed_by, reviewed, statement_id, withdrawn, withdrawn_by, "
    "withdrawn_reason, withdrawal_statement"
)


def _item(row: Sequence[Any]) -> Item:
    values = list(row)
    values[7] = tuple(c for c in (values[7] or "").split(",") if c)
    return Item(*values)


def _edition(row: Sequence[Any]) -> Edition:
    values = list(row)
    values[9] = bool(values[9])
    return Edition(*values)


def find_item(conn: sqlite3.Connection, item_id: str) -> Item | None:
    row = conn.execute(f"SELECT {_ITEM_COLUMNS} FROM item WHERE id = ?", (item_id,)).fetchone()  # noqa: S608
    return _item(row) if row else None


def get_item(conn: sqlite3.Connection, item_id: str) -> Item:
    item = find_item(conn, item_id)
    if item is None:
        raise NotFoundError(f"no item {item_id[:40]!r}")
    return item


def item_by_slug(conn: sqlite3.Connection, kind: str, slug: str) -> Item | None:
    q = f"SELECT {_ITEM_COLUMNS} FROM item WHERE route = ? AND slug = ?"  # noqa: S608
    row = conn.execute(q, (route_of(kind), slug)).fetchone()
    return _item(row) if row else None


def detail(conn: sqlite3.Connection, item_id: str) -> ItemDetail:
    item = get_item(conn, item_id)
    rows = conn.execute(
        f"SELECT {_EDITION_COLUMNS} FROM edition WHERE item = ? ORDER BY lang, number",  # noqa: S608
        (item_id,),
    ).fetchall()
    return ItemDetail(item, tuple(_edition(r) for r in rows))


def list_items(
    conn: sqlite3.Connection, *, kind: str | None = None, state: str | None = None, lang: str | None = None,
    include_removed: bool = False,
) -> list[ItemDetail]:  # fmt: skip
    """Items (newest first) with their editions; ``state``/``lang`` keep items having such an edition."""
    where, args = [], []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    if not include_removed:
        where.append("removed IS NULL")
    q = f"SELECT {_ITEM_COLUMNS} FROM item"  # noqa: S608
    if where:
        q += " WHERE " + " AND ".join(where)
    items = [_item(r) for r in conn.execute(q + " ORDER BY coalesce(first_published, created) DESC, id", args)]
    editions: dict[str, list[Edition]] = {}
    for r in conn.execute(f"SELECT {_EDITION_COLUMNS} FROM edition ORDER BY item, lang, number"):  # noqa: S608
        e = _edition(r)
        editions.setdefault(e.item, []).append(e)
    out = []
    for item in items:
        line = tuple(editions.get(item.id, ()))
        if state and not any(e.state == state for e in line):
            continue
        if lang and not any(e.lang == lang for e in line):
            continue
        out.append(ItemDetail(item, line))
    return out


def translation_status(d: ItemDetail, languages: Iterable[str]) -> list[TranslationStatus]:
    """Per configured language: missing (nothing published), outdated (another language has a major
    edition of its own - not a translation - that this language's current edition does not follow),
    or current. A translation follows its source's editions up to the one it started from (by
    number); any other edition counts when it was published after this language's current one."""
    public = {lang: e for lang in d.languages if (e := d.public(lang)) is not None}
    originals = [e for e in d.editions if e.major and e.published and e.source_lang is None
                 and e.state in ("published", "superseded", "withdrawn")]  # fmt: skip
    newest_major: dict[str, str] = {}
    for e in originals:
        newest_major[e.lang] = max(newest_major.get(e.lang, ""), e.published or "")
    out = []
    for lang in languages:
        working = d.working(lang)
        current = public.get(lang)
        state = working.state if working else None
        if current is None or current.published is None:
            out.append(TranslationStatus(lang, "missing", state, _newest_source(newest_major, lang)))
            continue
        newer = [e for e in originals if e.lang != lang and _ahead(e, current)]
        if newer:
            out.append(TranslationStatus(lang, "outdated", state, max(newer, key=lambda e: e.published or "").lang))
        else:
            out.append(TranslationStatus(lang, "current", state, None))
    return out


def _ahead(e: Edition, current: Edition) -> bool:
    if current.source_lang == e.lang and current.source_number is not None:
        return e.number > current.source_number
    return (e.published or "") > (current.published or "")


def _newest_source(newest_major: dict[str, str], lang: str) -> str | None:
    others = [(t, other) for other, t in newest_major.items() if other != lang]
    return max(others)[1] if others else None


def images(conn: sqlite3.Connection, item_id: str) -> dict[str, ImageRef]:
    """The item's uploaded images as bodies reference them."""
    found: dict[str, tuple[int, int, list[tuple[int, str]]]] = {}
    for image, width, height, v_width, name in conn.execute(
        "SELECT g.id, g.width, g.height, v.width, v.name FROM image g JOIN image_variant v ON v.image = g.id "
        "WHERE g.item = ? ORDER BY g.uploaded, g.id, v.width",
        (item_id,),
    ):
        found.setdefault(image, (width, height, []))[2].append((v_width, name))
    return {i: ImageRef(i, w, h, tuple(v)) for i, (w, h, v) in found.items()}


def is_page(item: Item) -> bool:
    return item.kind == PAGE
