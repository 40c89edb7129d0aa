"""The staff area's content pages: the list of items, a new item, one item with its editions per
language, image uploads, removal, and the translations overview. The editions' own pages and
actions are views_editions.py; every change goes through the publishing desk (embassy/web/publishing.py)."""

from typing import Any

from aiohttp import web

from embassy.content.model import KINDS, SEVERITIES
from embassy.publishing import store
from embassy.publishing.errors import (
    ImageTooLargeError,
    InvalidFieldError,
    NotAllowedError,
    NotFoundError,
    PublishingError,
    StateError,
)
from embassy.publishing.fields import SECTIONS, AlertSettings, Draft, PagePlace
from embassy.publishing.rules import Actor, may
from embassy.web import i18n
from embassy.web.publishing import DESK
from embassy.web.site import SITE
from embassy.web.staff.pages import account_of, form, language, posted, redirect, render

ERROR_WORDS = ((InvalidFieldError, "err_field", 422), (StateError, "err_state", 409),
               (NotAllowedError, "err_allowed", 403), (NotFoundError, "err_missing", 404))  # fmt: skip
ACTIONS = ("create", "edit", "translate", "upload", "submit", "discard", "approve", "publish", "withdraw", "review",
           "remove")  # fmt: skip


def actor_of(request: web.Request) -> Actor:
    account = account_of(request)
    return Actor(account.name, frozenset(account.roles))


def error_of(e: PublishingError) -> tuple[str, str, int]:
    """(words key, detail, status) for a refusal of the workflow."""
    for kind, key, status in ERROR_WORDS:
        if isinstance(e, kind):
            return key, str(e), status
    return "err_state", str(e), 400


def item_id(request: web.Request) -> str:
    value = request.match_info["id"]
    if not (len(value) == 12 and all(c in "0123456789abcdef" for c in value)):
        raise web.HTTPNotFound()
    return value


def title_of(d: store.ItemDetail, lang: str) -> str:
    e = d.public(lang) or d.latest(lang) or (d.editions[0] if d.editions else None)
    return e.title if e else d.item.slug


def mays(actor: Actor) -> dict[str, bool]:
    return {a: may(actor, a) for a in ACTIONS}


async def items_page(request: web.Request) -> web.StreamResponse:
    kind = request.query.get("kind", "")
    state = request.query.get("state", "")
    kind = kind if kind in KINDS else ""
    state = state if state in store.STATES else ""
    lang = language(request)
    me = account_of(request).name
    found = await request.config_dict[DESK].read(lambda c: store.list_items(c, kind=kind or None, state=state or None))
    rows, waiting, unreviewed = [], [], []
    for d in found:
        rows.append({"id": d.item.id, "kind": d.item.kind, "title": title_of(d, lang), "lines": [
            {"lang": lg, "state": (d.working(lg) or d.public(lg) or d.latest(lg)).state,  # type: ignore[union-attr]
             "number": (d.working(lg) or d.public(lg) or d.latest(lg)).number} for lg in d.languages  # type: ignore[union-attr]
        ]})  # fmt: skip
        for e in d.editions:
            if e.state == "submitted" and e.author != me:
                waiting.append({"id": d.item.id, "title": e.title, "lang": e.lang, "author": e.author})
            if e.unreviewed and e.state in store.PUBLIC:
                unreviewed.append({"id": d.item.id, "title": e.title, "lang": e.lang, "by": e.published_by or ""})
    return render(
        request, "items.html", "items_title", rows=rows, waiting=waiting, unreviewed=unreviewed, kinds=KINDS,
        states=store.STATES, kind=kind, state=state, may=mays(actor_of(request)),
    )  # fmt: skip


def _new_context(request: web.Request) -> dict[str, Any]:
    site = request.config_dict[SITE]
    return {"languages": [(lg, i18n.language_name(lg)) for lg in site.languages], "kinds": KINDS,
            "severities": SEVERITIES, "sections": SECTIONS}  # fmt: skip


async def new_page(request: web.Request) -> web.StreamResponse:
    return render(request, "item_new.html", "new_title", values={}, error=None, **_new_context(request))


async def create(request: web.Request) -> web.StreamResponse:
    f = await form(request, long=frozenset({"body"}))
    actor = actor_of(request)
    kind = f.get("kind", "")
    countries = tuple(c for c in f.get("countries", "").replace(" ", ",").split(",") if c)
    try:
        alert = AlertSettings(f.get("severity", "warning"), countries, f.get("expires") or None)
        place = PagePlace(f.get("section", "about"), f.get("parent") or None)
        draft = Draft(f.get("title", ""), f.get("summary", ""), f.get("body", ""))
        o = await request.config_dict[DESK].act(lambda w: w.create(
            actor, kind, f.get("lang", ""), draft, slug=f.get("slug") or None,
            alert=alert if kind == "alert" else None, place=place if kind == "page" else None,
        ))  # fmt: skip
    except PublishingError as e:
        key, detail, status = error_of(e)
        return render(request, "item_new.html", "new_title", status=status, values=f,
                      error={"key": key, "detail": detail}, **_new_context(request))  # fmt: skip
    return redirect(f"/staff/items/{o.id}?done=create")


async def item_page(request: web.Request, *, error: dict[str, str] | None = None, status: int = 200) -> web.StreamResponse:
    site = request.config_dict[SITE]
    iid = item_id(request)
    try:
        d, images = await request.config_dict[DESK].read(lambda c: (store.detail(c, iid), store.images(c, iid)))
    except NotFoundError:
        raise web.HTTPNotFound() from None
    actor = actor_of(request)
    statuses = {t.lang: t for t in store.translation_status(d, site.languages)}
    lines = []
    for lg in site.languages:
        lines.append({
            "lang": lg, "name": i18n.language_name(lg), "public": d.public(lg), "working": d.working(lg),
            "line": list(reversed(d.line(lg))), "status": statuses[lg],
            # a translation starts where the line lacks one or lags behind another language
            "sources": [(s, i18n.language_name(s)) for s in d.languages if s != lg]
            if statuses[lg].status in ("missing", "outdated") else [],
        })  # fmt: skip
    done = request.query.get("done", "")
    return render(
        request, "item.html", "items_title", status=status, item=d.item, title=title_of(d, language(request)),
        lines=lines, images=list(images.values()), may=mays(actor), me=actor.name,
        done=done if done.isascii() and done.isalpha() else "", error=error,
    )  # fmt: skip


async def upload(request: web.Request) -> web.StreamResponse:
    iid = item_id(request)
    _, files = await posted(request)
    image = files.get("image")
    try:
        if image is None or not image.data:
            raise InvalidFieldError("image", "choose a JPEG, PNG or WebP file to upload")
        await request.config_dict[DESK].upload(actor_of(request), iid, image.data)
    except PublishingError as e:
        key, detail, status = error_of(e)
        status = 413 if isinstance(e, ImageTooLargeError) else status
        return await item_page(request, error={"key": key, "detail": detail}, status=status)
    return redirect(f"/staff/items/{iid}?done=upload#images")


async def remove(request: web.Request) -> web.StreamResponse:
    iid = item_id(request)
    f = await form(request)
    try:
        await request.config_dict[DESK].act(lambda w: w.remove(actor_of(request), iid, f.get("reason", "")))
    except PublishingError as e:
        key, detail, status = error_of(e)
        return await item_page(request, error={"key": key, "detail": detail}, status=status)
    return redirect(f"/staff/items/{iid}?done=remove")


async def translations_page(request: web.Request) -> web.StreamResponse:
    site = request.config_dict[SITE]
    lang = language(request)
    found = await request.config_dict[DESK].read(lambda c: store.list_items(c))
    rows = [{"id": d.item.id, "kind": d.item.kind, "title": title_of(d, lang),
             "statuses": store.translation_status(d, site.languages)} for d in found]  # fmt: skip
    return render(request, "translations.html", "translations_title", rows=rows,
                  languages=[(lg, i18n.language_name(lg)) for lg in site.languages])  # fmt: skip
