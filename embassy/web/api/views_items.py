"""The API's publishing endpoints: items, their editions through the workflow, images, translations."""

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from embassy.content.text import ImageRef
from embassy.publishing import store
from embassy.publishing.errors import InvalidFieldError, NotFoundError
from embassy.publishing.fields import AlertSettings, Draft, PagePlace
from embassy.publishing.images import MAX_BYTES
from embassy.publishing.rules import Actor
from embassy.publishing.workflow import Outcome, Workflow
from embassy.web import params
from embassy.web.api import models as m
from embassy.web.api.body import answer, read_bytes, read_json
from embassy.web.api.views import principal_of
from embassy.web.publishing import DESK
from embassy.web.site import SITE

ITEM_ID_RE = re.compile(r"^[0-9a-f]{12}$")
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


def _actor(request: web.Request) -> Actor:
    p = principal_of(request)
    return Actor(p.account, frozenset(p.roles))


def _item_id(request: web.Request) -> str:
    item_id = request.match_info["id"]
    if not ITEM_ID_RE.match(item_id):
        raise NotFoundError(f"no item {item_id[:40]!r}")
    return item_id


def _outcome(request: web.Request, o: Outcome) -> m.Outcome:
    url = request.config_dict[SITE].renderer.absolute(o.path) if o.path else None
    return m.Outcome(id=o.id, lang=o.lang, edition=o.edition, state=o.state, url=url, statement=o.statement)  # type: ignore[arg-type]


def _choice(q: params.Params, name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.text(q, name, max_chars=40)
    if value and value not in allowed:
        raise InvalidFieldError(name, f"{value!r} is not one of {', '.join(allowed)}")
    return value or None


async def list_items(request: web.Request) -> web.Response:
    q = params.query(request)
    kind = _choice(q, "kind", ("news", "page", "alert"))
    state = _choice(q, "state", store.STATES)
    lang = _choice(q, "lang", request.config_dict[SITE].languages)
    found = await request.config_dict[DESK].read(lambda c: store.list_items(c, kind=kind, state=state, lang=lang))
    return answer(m.Items(items=[
        m.ItemSummary(id=d.item.id, kind=d.item.kind, slug=d.item.slug, editions=[  # type: ignore[arg-type]
            m.EditionSummary(lang=e.lang, edition=e.number, state=e.state, title=e.title, author=e.author,  # type: ignore[arg-type]
                             published=e.published, unreviewed=e.unreviewed)
            for e in d.editions if lang is None or e.lang == lang
        ]) for d in found
    ]))  # fmt: skip


def item_full(d: store.ItemDetail, images: dict[str, ImageRef], languages: tuple[str, ...]) -> m.ItemFull:
    i = d.item
    return m.ItemFull(
        id=i.id, kind=i.kind, slug=i.slug, section=i.section, parent=i.parent, severity=i.severity,  # type: ignore[arg-type]
        countries=list(i.countries), expires=i.expires, created=i.created, created_by=i.created_by,
        first_published=i.first_published, removed=i.removed, removed_reason=i.removed_reason,
        editions=[m.EditionFull(**e.to_json()) for e in d.editions],
        translations=[m.Translation(**t.to_json()) for t in store.translation_status(d, languages)],
        images=[_image(ref) for ref in images.values()],
    )  # fmt: skip


def _image(ref: ImageRef) -> m.Image:
    return m.Image(id=ref.id, width=ref.width, height=ref.height, urls=[f"/media/{n}" for _, n in ref.variants],
                   markdown=f"![](image:{ref.id})")  # fmt: skip


async def get_item(request: web.Request) -> web.Response:
    item_id = _item_id(request)
    languages = request.config_dict[SITE].languages
    d, images = await request.config_dict[DESK].read(lambda c: (store.detail(c, item_id), store.images(c, item_id)))
    return answer(item_full(d, images, languages))


async def create_item(request: web.Request) -> web.Response:
    b = await read_json(request, m.NewItem)
    actor = _actor(request)
    draft = Draft(b.title, b.summary, b.body)
    alert = AlertSettings(b.severity, tuple(b.countries), b.expires) if b.kind == "alert" else None
    place = PagePlace(b.section, b.parent) if b.kind == "page" else None
    o = await request.config_dict[DESK].act(
        lambda w: w.create(actor, b.kind, b.lang, draft, slug=b.slug, alert=alert, place=place)
    )
    return answer(_outcome(request, o), 201)


async def new_edition(request: web.Request) -> web.Response:
    item_id, lang = _item_id(request), request.match_info["lang"]
    b = await read_json(request, m.NewEdition)
    actor = _actor(request)
    draft = Draft(b.title, b.summary, b.body, b.change_note, b.major) if b.title is not None else None
    o = await request.config_dict[DESK].act(lambda w: w.new_edition(actor, item_id, lang, draft, source=b.source))
    return answer(_outcome(request, o), 201)


async def edit_edition(request: web.Request) -> web.Response:
    item_id, lang = _item_id(request), request.match_info["lang"]
    b = await read_json(request, m.EditionText)
    actor = _actor(request)
    draft = Draft(b.title, b.summary, b.body, b.change_note, b.major)
    o = await request.config_dict[DESK].act(lambda w: w.edit(actor, item_id, lang, draft))
    return answer(_outcome(request, o))


def _simple(action: Callable[[Workflow, Actor, str, str], Outcome]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def view(request: web.Request) -> web.Response:
        item_id, lang = _item_id(request), request.match_info["lang"]
        await read_json(request, m.Empty)
        actor = _actor(request)
        o = await request.config_dict[DESK].act(lambda w: action(w, actor, item_id, lang))
        return answer(_outcome(request, o))

    return view


submit = _simple(lambda w, a, i, lang: w.submit(a, i, lang))
approve = _simple(lambda w, a, i, lang: w.approve(a, i, lang))
review = _simple(lambda w, a, i, lang: w.review(a, i, lang))
discard = _simple(lambda w, a, i, lang: w.discard(a, i, lang))


async def publish(request: web.Request) -> web.Response:
    item_id, lang = _item_id(request), request.match_info["lang"]
    b = await read_json(request, m.Publish)
    actor = _actor(request)
    o = await request.config_dict[DESK].act(
        lambda w: w.publish(actor, item_id, lang, at=b.at, urgent_reason=b.urgent_reason)
    )
    return answer(_outcome(request, o))


async def withdraw(request: web.Request) -> web.Response:
    item_id, lang = _item_id(request), request.match_info["lang"]
    b = await read_json(request, m.Reason)
    actor = _actor(request)
    o = await request.config_dict[DESK].act(lambda w: w.withdraw(actor, item_id, lang, b.reason))
    return answer(_outcome(request, o))


async def remove(request: web.Request) -> web.Response:
    item_id = _item_id(request)
    b = await read_json(request, m.Reason)
    actor = _actor(request)
    item = await request.config_dict[DESK].act(lambda w: w.remove(actor, item_id, b.reason))
    return answer(m.Removed(id=item.id, removed=item.removed or "", reason=item.removed_reason or ""))


async def upload_image(request: web.Request) -> web.Response:
    """The image's bytes as the body, with its type (checked again by content)."""
    item_id = _item_id(request)
    if request.content_type not in IMAGE_TYPES:
        raise web.HTTPUnsupportedMediaType(reason="send the image as image/jpeg, image/png or image/webp")
    data = await read_bytes(request, MAX_BYTES)
    ref = await request.config_dict[DESK].upload(_actor(request), item_id, data)
    return answer(_image(ref), 201)


async def translations(request: web.Request) -> web.Response:
    languages = request.config_dict[SITE].languages
    found = await request.config_dict[DESK].read(lambda c: store.list_items(c))
    rows = []
    for d in found:
        first = next((e for e in d.editions), None)
        rows.append(m.TranslationRow(
            id=d.item.id, kind=d.item.kind, slug=d.item.slug, title=first.title if first else "",  # type: ignore[arg-type]
            translations=[m.Translation(**t.to_json()) for t in store.translation_status(d, languages)],
        ))  # fmt: skip
    return answer(m.TranslationsOverview(items=rows))
