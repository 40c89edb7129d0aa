"""``/{lang}/contact`` and ``/{lang}/case``: the contact channels and following a case (docs/web.md).

A POST is judged cheapest check first, so a flood costs little: it must come from this site
(``Sec-Fetch-Site: same-origin`` when the browser sends it, else an ``Origin`` of ours when sent);
its body must fit (413); its form token must be one this server made (guard.py); the honeypot
``website`` must be empty; then the rate limits (429 in the visitor's language, with their text
given back); then the fields and attachments (422, the form shown again filled in); then the
submission is sealed and stored, and its tracking code shown once (201). Nothing a visitor typed
is ever logged, cached, counted or put in a URL.
"""

import html
import math
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from embassy.contact import attachments
from embassy.contact.errors import (
    AttachmentError,
    BusyError,
    CodeFormatError,
    FormTokenError,
    InvalidSubmissionError,
    NotOpenError,
)
from embassy.contact.guard import Checked
from embassy.contact.model import CHANNELS, CONSULAR_TYPES, LIMITS, check_submission
from embassy.content.model import Snapshot
from embassy.web import i18n, params
from embassy.web.contact_state import CONTACT, MAX_CONTACT_BODY, ContactState, minutes
from embassy.web.contact_words import CONTACT_WORDS
from embassy.web.ratelimit import TokenBucketLimiter, Verdict, address_key
from embassy.web.site import SITE, Site

HTML = "text/html; charset=utf-8"
NO_STORE = {"Content-Type": HTML, "Cache-Control": "no-store"}
FILES = params.FileLimits(frozenset({"attachment"}), attachments.MAX_FILES)
FIELDS = ("type", *LIMITS)


def words(lang: str) -> i18n.Words:
    return i18n.Words(lang, CONTACT_WORDS)


def _lang(request: web.Request, site: Site) -> str:
    lang = request.match_info["lang"]
    if lang not in site.languages:
        raise web.HTTPNotFound()
    return lang


def _frame(site: Site, lang: str, rest: str, title: str, description: str) -> dict[str, Any]:
    frame = site.renderer.frame(lang, rest, title=title, description=description, section="contact")
    frame["w"] = words(lang)
    return frame


def same_site(request: web.Request, site: Site) -> bool:
    """The browser's word that this POST comes from one of our pages (a script's request, which
    sends neither header, is judged by its form token alone)."""
    fetch = request.headers.get("Sec-Fetch-Site")
    if fetch is not None:
        return fetch == "same-origin"
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    public = site.config.server.public_url.split("/", 3)
    return origin in (f"{site.resolver.scheme(request)}://{request.host}", "/".join(public[:3]))


@dataclass
class FormView:
    channel: str
    token: str
    challenge: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notice: str = ""  # a word key shown above the form
    minutes: str = ""  # for the notice form_too_many


def _fresh(state: ContactState, channel: str, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
           notice: str = "") -> FormView:  # fmt: skip
    token = state.guard.new_token("contact")
    return FormView(channel, token, state.guard.challenge(token), dict(values or {}), dict(errors or {}), notice)


def _placeholder(channel: str) -> FormView:
    """A form whose token and challenge are markers, for the page rendered once per language."""
    return FormView(channel, f"@@token-{channel}@@", f"@@challenge-{channel}@@")


async def _contact_page(request: web.Request, lang: str, *, status: int = 200, again: FormView | None = None,
                        extra: dict[str, str] | None = None) -> web.Response:  # fmt: skip
    """The contact page. Its every form carries a fresh token and challenge; the rest is rendered
    once per language and content version and the markers replaced (a GET costs a cached page,
    not a render: the contact page is what a flood fetches)."""
    site = request.app[SITE]
    state = request.app[CONTACT]
    snap = await site.content.snapshot()
    try:
        await state.service.inbox()
        is_open = True
    except NotOpenError:
        is_open = False
    if again is not None:
        forms = {ch: (again if again.channel == ch else _fresh(state, ch)) for ch in CHANNELS}
        body = _render_contact(site, snap, lang, forms, is_open)
    else:
        key = (lang, snap.version, is_open)
        page = state.pages.get(key)
        if page is None:
            page = _render_contact(site, snap, lang, {ch: _placeholder(ch) for ch in CHANNELS}, is_open).decode()
            if len(state.pages) > 64:
                state.pages.clear()
            state.pages[key] = page
        for ch in CHANNELS:
            form = _fresh(state, ch)
            page = page.replace(f"@@token-{ch}@@", form.token, 1)
            page = page.replace(f"@@challenge-{ch}@@", html.escape(form.challenge, quote=True), 1)
        body = page.encode()
    return web.Response(status=status, body=body, headers={**NO_STORE, **(extra or {})})


def _render_contact(site: Site, snap: Snapshot, lang: str, forms: dict[str, FormView], is_open: bool) -> bytes:
    w = words(lang)
    page = snap.page("contact")
    t = page.pick(lang, site.languages) if page else None
    frame = _frame(site, lang, "contact", t.title if t else w["contact"], t.summary if t else w["contact_form"])
    return site.renderer.render(
        "contact.html", frame, page=site.renderer.page_view(page, t) if page and t else None, forms=forms,
        is_open=is_open, consular_types=CONSULAR_TYPES, limits=LIMITS, contact=site.config.contact,
        contact_js=site.extra_assets["contact.js"].url, max_files=attachments.MAX_FILES,
    )  # fmt: skip


async def contact(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = _lang(request, site)
    site.count_view(request, "contact", lang)
    return await _contact_page(request, lang)


async def _read(request: web.Request, site: Site) -> tuple[params.Params, list[params.UploadedFile]]:
    """The form: only a multipart body (attachments) may be larger than the site's 64 KiB."""
    if not same_site(request, site):
        raise web.HTTPForbidden()
    if request.content_type == params.MULTIPART:
        request = request.clone(client_max_size=MAX_CONTACT_BODY)
    return await params.read_form_with_files(request, timeout=site.config.server.body_timeout, files=FILES)


def _take(limiters: list[tuple[TokenBucketLimiter, str]]) -> Verdict | None:
    """Spend one token of each (limiter, key) in turn; the verdict of the first that refuses, or None."""
    for limiter, key in limiters:
        verdict = limiter.take(key)
        if not verdict.allowed:
            return verdict
    return None


async def contact_post(request: web.Request) -> web.Response:
    site = request.app[SITE]
    state = request.app[CONTACT]
    lang = _lang(request, site)
    try:
        await state.service.inbox()
    except NotOpenError:
        await _read(request, site)  # checked, then dropped
        return await _contact_page(request, lang, status=503, extra={"Retry-After": "86400"})
    form, files = await _read(request, site)
    channel = params.text(form, "channel", max_chars=20)
    if channel not in CHANNELS:
        raise web.HTTPBadRequest()
    values = {k: params.text(form, k, max_chars=LIMITS.get(k, 40) + 1) for k in FIELDS}
    try:  # one PBKDF2 derivation when a solution came: on the crypto pool, not the event loop
        checked = await state.service.pool.run(state.guard.check, "contact", params.text(form, "token", max_chars=200),
                                               params.text(form, "altcha", max_chars=4096))  # fmt: skip
    except BusyError:
        return await _contact_page(request, lang, status=429, again=_fresh(state, channel, values, notice="form_busy"),
                                   extra={"Retry-After": "10"})  # fmt: skip
    except FormTokenError as e:
        again = _fresh(state, channel, values, notice=f"form_{e.reason}")
        return await _contact_page(request, lang, status=400 if e.reason == "forged" else 422, again=again)
    if params.text(form, "website", max_chars=200):
        return await _contact_page(request, lang, status=422, again=_fresh(state, channel, values, notice="err_honeypot"))
    limits, key = state.limits, address_key(site.resolver.client(request))
    if checked.proof_of_work:
        refused = _take([(limits.address, key), (limits.site, "site")])
    else:
        # stricter: its own smaller bucket, and the same per-address and site-wide ones besides
        refused = _take([(limits.address_nojs, key), (limits.address, key), (limits.site_nojs, "site"),
                         (limits.site, "site")])  # fmt: skip
    if refused is not None:
        again = _fresh(state, channel, values, notice="form_too_many")
        again.minutes = minutes(refused)
        return await _contact_page(request, lang, status=429, again=again,
                                   extra={"Retry-After": str(max(1, math.ceil(refused.retry_after)))})  # fmt: skip
    return await _submit(request, lang, channel, values, files, checked)


async def _attachments(state: ContactState, files: list[params.UploadedFile]) -> tuple[list[attachments.Attachment], str]:
    """The files that are attachments we take, and the reason one is not ("" when all are);
    checked on the crypto pool (Pillow parses them)."""
    if not files:
        return [], ""

    def check() -> tuple[list[attachments.Attachment], str]:
        found, reason = [], ""
        for f in files:
            try:
                found.append(attachments.check_attachment(f.filename, f.data))
            except AttachmentError as e:
                reason = e.reason
        return found, reason

    return await state.service.pool.run(check)


async def _submit(request: web.Request, lang: str, channel: str, values: dict[str, str],
                  files: list[params.UploadedFile], checked: Checked) -> web.Response:  # fmt: skip
    site = request.app[SITE]
    state = request.app[CONTACT]
    errors: dict[str, str] = {}
    try:
        submission = check_submission(channel, values)
    except InvalidSubmissionError as e:
        errors.update(e.problems)
    found, reason = await _attachments(state, files)
    if reason:
        errors["attachment"] = reason
    if errors:
        return await _contact_page(request, lang, status=422, again=_fresh(state, channel, values, errors,
                                                                           "form_refilled" if files else ""))  # fmt: skip
    try:
        code = await state.service.submit(submission, found, lang, checked.nonce, review=not checked.proof_of_work)
    except FormTokenError:
        return await _contact_page(request, lang, status=409, again=_fresh(state, channel, values, notice="form_spent"))
    except BusyError:  # more submissions at once than the pool takes: too many requests, try again soon
        return await _contact_page(request, lang, status=429, again=_fresh(state, channel, values, notice="form_busy"),
                                   extra={"Retry-After": "10"})  # fmt: skip
    except NotOpenError:
        return await _contact_page(request, lang, status=503, extra={"Retry-After": "3600"})
    from embassy.contact.codes import display

    w = words(lang)
    frame = _frame(site, lang, "contact", w["sent_title"], w["sent_title"])
    body = site.renderer.render("contact_sent.html", frame, code=display(code), channel=channel,
                                review=not checked.proof_of_work, contact=site.config.contact)  # fmt: skip
    return web.Response(status=201, body=body, headers=NO_STORE)


# -- /{lang}/case -----------------------------------------------------------------------------------


async def _case_page(request: web.Request, lang: str, *, status: int = 200, message: str = "", invalid: bool = False,
                     code: str = "", view: Any = None, followup_error: str = "", extra: dict[str, str] | None = None,
                     done: bool = False) -> web.Response:  # fmt: skip
    site = request.app[SITE]
    state = request.app[CONTACT]
    w = words(lang)
    frame = _frame(site, lang, "case", w["case"], w["case_intro"])
    token = state.guard.new_token("case") if view is not None else ""
    body = site.renderer.render(
        "case.html", frame, message=message, invalid=invalid, code=code, view=view, token=token,
        followup_error=followup_error, done=done, date=lambda iso: i18n.format_date(iso, lang),
        sent_dates=", ".join(i18n.format_date(x, lang) for x in view.sent) if view is not None else "",
        max_files=attachments.MAX_FILES, limit=LIMITS["message"],
    )  # fmt: skip
    return web.Response(status=status, body=body, headers={**NO_STORE, **(extra or {})})


async def case(request: web.Request) -> web.Response:
    site = request.app[SITE]
    lang = _lang(request, site)
    site.count_view(request, "case", lang)
    return await _case_page(request, lang)


async def case_post(request: web.Request) -> web.Response:
    """A tracking code is its holder's secret: it comes in a POST body (never a URL), and is never
    cached, counted or logged. Look-ups are limited per address; each costs the same Argon2id,
    found or not, and a wrong code says only that no case has it."""
    site = request.app[SITE]
    state = request.app[CONTACT]
    lang = _lang(request, site)
    w = words(lang)
    form, files = await _read(request, site)
    typed = params.text(form, "code", max_chars=64)
    verdict = state.limits.lookups.take(address_key(site.resolver.client(request)))
    if not verdict.allowed:
        return await _case_page(request, lang, status=429, message=w("case_too_many", minutes=minutes(verdict)),
                                extra={"Retry-After": str(max(1, int(verdict.retry_after) + 1))})  # fmt: skip
    try:
        view = await state.service.public_view(typed)
    except CodeFormatError:
        return await _case_page(request, lang, status=400, message=w["case_bad_code"], invalid=True, code=typed[:40])
    except BusyError:
        return await _case_page(request, lang, status=429, message=w["form_busy"], extra={"Retry-After": "10"})
    if view is None:
        return await _case_page(request, lang, status=404, message=w["case_not_found"], code=typed[:40])
    if params.text(form, "action", max_chars=20) != "followup":
        return await _case_page(request, lang, view=view)
    return await _follow_up(request, lang, form, files, view)


async def _follow_up(request: web.Request, lang: str, form: params.Params, files: list[params.UploadedFile],
                     view: Any) -> web.Response:  # fmt: skip
    state = request.app[CONTACT]
    text = params.text(form, "message", max_chars=LIMITS["message"] + 1)
    try:
        checked = state.guard.check("case", params.text(form, "token", max_chars=200), "")
    except FormTokenError as e:
        return await _case_page(request, lang, status=422, view=view, followup_error=f"form_{e.reason}")
    error = "err_missing" if not text else "err_too_long" if len(text) > LIMITS["message"] else ""
    try:
        found, reason = await _attachments(state, files)
    except BusyError:
        return await _case_page(request, lang, status=429, view=view, followup_error="form_busy",
                                extra={"Retry-After": "10"})  # fmt: skip
    error = f"err_{reason}" if reason else error
    if error:
        return await _case_page(request, lang, status=422, view=view, followup_error=error)
    try:
        await state.service.follow_up(view.code, text, found, checked.nonce)
    except FormTokenError:
        return await _case_page(request, lang, status=409, view=view, followup_error="form_spent")
    fresh = await state.service.public_view(view.code)
    return await _case_page(request, lang, status=201, view=fresh, done=True)
