"""The staff area's edition pages: editing the edition in progress, its preview (the public page
as it will be), and every workflow action on a language's line (new, submit, approve, publish,
schedule, urgent publication, review, withdraw, discard)."""

from dataclasses import replace

from aiohttp import web

from embassy.content.model import PAGE, NewsItem, Page, Translation
from embassy.content.repo import utc_now
from embassy.publishing import store
from embassy.publishing.errors import NotFoundError, PublishingError
from embassy.publishing.fields import Draft
from embassy.web import i18n
from embassy.web.publishing import DESK
from embassy.web.site import SITE
from embassy.web.staff.pages import form, language, redirect, render, words
from embassy.web.staff.views_items import actor_of, error_of, item_id, item_page
from embassy.web.views.public import news_body, page_body

HTML = "text/html; charset=utf-8"


def _lang(request: web.Request) -> str:
    lang = request.match_info["lang"]
    if lang not in request.config_dict[SITE].languages:
        raise web.HTTPNotFound()
    return lang


async def _detail(request: web.Request, iid: str) -> store.ItemDetail:
    try:
        return await request.config_dict[DESK].read(lambda c: store.detail(c, iid))
    except NotFoundError:
        raise web.HTTPNotFound() from None


async def edit_page(request: web.Request, *, values: dict[str, str] | None = None,
                    error: dict[str, str] | None = None, status: int = 200) -> web.StreamResponse:  # fmt: skip
    iid, lang = item_id(request), _lang(request)
    d = await _detail(request, iid)
    e = d.working(lang)
    if e is None:
        return redirect(f"/staff/items/{iid}#lang-{lang}")
    shown = values or {"title": e.title, "summary": e.summary, "body": e.body_md, "change_note": e.change_note,
                       "major": "1" if e.major else ""}  # fmt: skip
    return render(
        request, "edition_edit.html", "edit_title", title_values={"title": e.title}, status=status, item=d.item,
        edition=e, lang_name=i18n.language_name(lang), values=shown, error=error,
        done="save" if request.query.get("done") == "save" else ("new" if request.query.get("done") == "new" else ""),
    )  # fmt: skip


async def save(request: web.Request) -> web.StreamResponse:
    iid, lang = item_id(request), _lang(request)
    f = await form(request, long=frozenset({"body"}))
    draft = Draft(f.get("title", ""), f.get("summary", ""), f.get("body", ""), f.get("change_note", ""),
                  f.get("major") == "1")  # fmt: skip
    try:
        await request.config_dict[DESK].act(lambda w: w.edit(actor_of(request), iid, lang, draft))
    except PublishingError as e:
        key, detail, status = error_of(e)
        return await edit_page(request, values=f, error={"key": key, "detail": detail}, status=status)
    if f.get("then") == "preview":
        return redirect(f"/staff/items/{iid}/{lang}/preview")
    return redirect(f"/staff/items/{iid}/{lang}/edit?done=save")


async def preview(request: web.Request) -> web.StreamResponse:
    """The public page of the edition in progress (else the public one), rendered by the very code that
    serves the site, from the current content; a note above it says it is a preview."""
    site = request.config_dict[SITE]
    iid, lang = item_id(request), _lang(request)
    d = await _detail(request, iid)
    e = d.working(lang) or d.public(lang)
    if e is None:
        raise web.HTTPNotFound()
    snap = await site.content.snapshot()
    t = Translation(lang, e.title, e.summary, e.body_html, e.published or utc_now(), e.statement_id, e.number)
    item = d.item
    if item.kind == PAGE:
        known = snap.page(item.slug)
        translations = {**(known.translations if known else {}), lang: t}
        body = page_body(site, snap, lang, Page(item.slug, item.section, item.position, item.parent, translations,
                                                item.id), t)  # fmt: skip
    else:
        known_news = snap.news_item(item.slug)
        translations = {**(known_news.translations if known_news else {}), lang: t}
        if known_news is not None and lang in known_news.translations:  # keep the public history beside it
            t = replace(t, history=known_news.translations[lang].history)
            translations[lang] = t
        body = news_body(site, snap, lang, NewsItem(item.slug, item.kind, item.first_published or t.updated,
                                                    translations, item.id, item.severity, item.countries,
                                                    item.expires), t)  # fmt: skip
    w = words(language(request))
    note = w("preview_note", n=str(e.number), language=i18n.language_name(lang), state=w["state_" + e.state])
    banner = (f'<div class="preview-note" role="note"><p>{i18n_escape(note)} <a href="/staff/items/{iid}">'
              f"{i18n_escape(w['back_to_item'])}</a></p></div>")  # fmt: skip
    html = body.decode("utf-8").replace("<body>", "<body>\n" + banner, 1)
    return web.Response(body=html.encode("utf-8"), headers={"Content-Type": HTML, "X-Robots-Tag": "noindex"})


def i18n_escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


async def act(request: web.Request) -> web.StreamResponse:
    """One workflow action on a language's line; the route's name says which."""
    iid, lang = item_id(request), _lang(request)
    action = (request.match_info.route.name or "").removeprefix("staff_edition_")
    f = await form(request)
    actor = actor_of(request)
    done = action
    try:
        desk = request.config_dict[DESK]
        if action == "new":
            source = f.get("source") or None
            await desk.act(lambda w: w.new_edition(actor, iid, lang, None, source=source))
            return redirect(f"/staff/items/{iid}/{lang}/edit?done=new")
        if action == "publish":
            at = f.get("at") or None
            urgent = f.get("urgent_reason") if f.get("urgent") == "1" else None
            outcome = await desk.act(lambda w: w.publish(actor, iid, lang, at=at, urgent_reason=urgent))
            done = "schedule" if outcome.state == "scheduled" else "publish"
        elif action == "withdraw":
            await desk.act(lambda w: w.withdraw(actor, iid, lang, f.get("reason", "")))
        elif action in ("submit", "approve", "review", "discard"):
            await desk.act(lambda w: getattr(w, action)(actor, iid, lang))
        else:
            raise web.HTTPNotFound()
    except PublishingError as e:
        key, detail, status = error_of(e)
        return await item_page(request, error={"key": key, "detail": detail}, status=status)
    return redirect(f"/staff/items/{iid}?done={done}#lang-{lang}")
