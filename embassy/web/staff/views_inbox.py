"""The consular inbox: /staff/inbox (consular and admin), every view and action audited.

The queue shows routing metadata only, emergency first, then oldest first. A case opens with the
inbox keys this session unlocked at sign-in (embassy/contact/officer_session.py); without them the
page says so and shows no content. Attachments are sent with ``Content-Disposition: attachment``
under ``Content-Security-Policy: sandbox; default-src 'none'``: the browser saves them, and never
runs or renders them in the staff area's origin.
"""

import sqlite3
from collections.abc import Callable
from urllib.parse import quote, urlencode

from aiohttp import web

from embassy.audit.log import record
from embassy.contact import cases, custody, reading
from embassy.contact.errors import CaseNotFoundError, InboxLockedError, WrongStateError
from embassy.contact.model import CHANNELS, CONSULAR_TYPES, STATUSES
from embassy.contact.notify import outbox_problems
from embassy.contact.officer_session import INBOX_COOKIE, OfficerKeys
from embassy.web.staff.pages import STAFF, account_of, client_address, form, redirect, render, session_of

REPLY_LIMIT = 8000


async def officer_keys(request: web.Request) -> OfficerKeys | None:
    """This session's unlocked keys; a grant made since sign-in is opened and kept too."""
    state = request.app[STAFF]
    session = session_of(request)
    secret = request.cookies.get(INBOX_COOKIE, "")
    keys = await state.unlock.keys_of(session, secret)
    if keys is None:
        return None
    current = await state.contact.db(custody.current_key)
    if current is not None and keys.pair(current.id) is None:
        name, private = session.account, keys.officer_private
        pairs = await state.contact.db(lambda c: custody.open_grants(c, name, private))
        if any(p.id == current.id for p in pairs):
            keys = OfficerKeys(keys.officer_private, tuple(pairs))
            await state.unlock.store(session, secret, keys)
    return keys


def _filters(request: web.Request) -> cases.QueueFilter:
    q = request.query
    pick = {
        "channel": CHANNELS, "type": ("emergency", "inquiry", *CONSULAR_TYPES), "status": (*STATUSES, "all"),
        "lang": tuple(request.app[STAFF].config.mission.languages),
    }  # fmt: skip
    v = {k: (q.get(k, "") if q.get(k, "") in allowed else "") for k, allowed in pick.items()}
    return cases.QueueFilter(channel=v["channel"], type=v["type"], lang=v["lang"], status=v["status"])


async def inbox_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    f = _filters(request)
    keys = await officer_keys(request)

    def load(c):  # type: ignore[no-untyped-def]
        found = cases.queue(c, f)
        record(c, session.account, "inbox.viewed", {"channel": f.channel, "type": f.type, "lang": f.lang,
                                                     "status": f.status, "shown": len(found)})  # fmt: skip
        return found, cases.counts(c), outbox_problems(c), custody.current_key(c)

    found, counts, problems, current = await state.contact.db(load)
    unlocked = keys is not None and current is not None and keys.pair(current.id) is not None
    return render(
        request, "inbox.html", "inbox_title", cases=found, counts=counts, problems=problems, filters=f,
        unlocked=unlocked, has_inbox=current is not None, channels=CHANNELS, statuses=STATUSES,
        types=("emergency", "inquiry", *CONSULAR_TYPES), languages=state.config.mission.languages,
    )  # fmt: skip


def _case_id(request: web.Request) -> str:
    case_id = request.match_info["case"]
    if len(case_id) != 16 or any(ch not in "0123456789abcdef" for ch in case_id):
        raise web.HTTPNotFound()
    return case_id


async def case_page(request: web.Request) -> web.StreamResponse:
    return await _case_page(request, "")


async def _case_page(request: web.Request, error: str, status: int = 200) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    case_id = _case_id(request)
    keys = await officer_keys(request)

    def load(c):  # type: ignore[no-untyped-def]
        case = cases.get(c, case_id)
        entries: list[reading.Entry] = []
        locked = True
        if keys is not None:
            try:
                case, entries = reading.open_case(c, case_id, keys)
                locked = False
            except InboxLockedError:
                pass
        record(c, session.account, "case.viewed", {"case": case_id, "content_shown": not locked,
                                                   "address": client_address(request)})  # fmt: skip
        officers = [o.name for o in custody.access_list(c) if o.eligible]
        return case, entries, locked, officers

    try:
        case, entries, locked, officers = await state.contact.db(load)
    except CaseNotFoundError as e:
        raise web.HTTPNotFound() from e
    done = request.query.get("done", "")
    return render(
        request, "case.html", "case_title", status=status, title_values={"id": case.id}, case=case, entries=entries,
        locked=locked, officers=officers, statuses=STATUSES, error=error, limit=REPLY_LIMIT,
        done=done if done in ("reply", "status", "assign") else "",
    )  # fmt: skip


async def _act(request: web.Request, done: str, change: Callable[[sqlite3.Connection, str], object],
               invalid: str) -> web.StreamResponse:  # fmt: skip
    """Apply ``change`` (its own audit entry) to the case, then show it again; 422 when refused."""
    state = request.app[STAFF]
    case_id = _case_id(request)
    try:
        await state.contact.db(lambda c: change(c, case_id))
    except CaseNotFoundError as e:
        raise web.HTTPNotFound() from e
    except WrongStateError:
        return await _case_page(request, invalid, 422)
    return redirect(f"/staff/inbox/cases/{case_id}?done={done}")


async def reply_post(request: web.Request) -> web.StreamResponse:
    actor = session_of(request).account
    fields = await form(request)
    text, status = fields.get("body", "").strip(), fields.get("status", "")
    if not text or len(text) > REPLY_LIMIT or (status and status not in STATUSES):
        return await _case_page(request, "reply_invalid", 422)
    return await _act(request, "reply", lambda c, i: reading.reply(c, i, text, actor=actor, status=status or None),
                      "reply_invalid")  # fmt: skip


async def status_post(request: web.Request) -> web.StreamResponse:
    actor = session_of(request).account
    status = (await form(request)).get("status", "")
    if status not in STATUSES:
        return await _case_page(request, "status_invalid", 422)
    return await _act(request, "status", lambda c, i: cases.set_status(c, i, status, actor=actor), "status_invalid")


async def assign_post(request: web.Request) -> web.StreamResponse:
    actor = session_of(request).account
    who = (await form(request)).get("account", "")
    account = actor if who == "me" else (who or None)
    return await _act(request, "assign", lambda c, i: cases.assign(c, i, account, actor=actor), "assign_invalid")


async def attachment(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    case_id = _case_id(request)
    raw = request.match_info["n"]
    if not (raw.isascii() and raw.isdigit() and len(raw) < 12):
        raise web.HTTPNotFound()
    keys = await officer_keys(request)
    if keys is None:
        raise web.HTTPForbidden()

    def load(c):  # type: ignore[no-untyped-def]
        found = reading.open_attachment(c, case_id, int(raw), keys)
        record(c, session.account, "case.attachment_downloaded", {"case": case_id, "attachment": int(raw),
                                                                  "address": client_address(request)})  # fmt: skip
        return found

    try:
        a = await state.contact.db(load)
    except CaseNotFoundError as e:
        raise web.HTTPNotFound() from e
    except InboxLockedError as e:
        raise web.HTTPForbidden() from e
    ascii_name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in a.name)
    return web.Response(
        body=a.data,
        headers={
            "Content-Type": a.content_type,
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(a.name)}",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


async def access_page(request: web.Request, error: str = "", status: int = 200) -> web.StreamResponse:
    state = request.app[STAFF]
    keys = await officer_keys(request)

    def load(c):  # type: ignore[no-untyped-def]
        return custody.access_list(c), custody.current_key(c)

    officers, current = await state.contact.db(load)
    can_grant = keys is not None and current is not None and keys.pair(current.id) is not None
    done = request.query.get("done", "")
    return render(request, "inbox_access.html", "access_title", status=status, officers=officers, current=current,
                  can_grant=can_grant, error=error, done=done if done in ("granted", "revoked") else "")  # fmt: skip


async def access_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    fields = await form(request)
    name, action = fields.get("account", ""), fields.get("action", "")
    keys = await officer_keys(request)
    try:
        if action == "grant":
            if keys is None or not keys.inbox:
                return await access_page(request, "access_locked", 403)
            pairs = list(keys.inbox)
            await state.contact.db(lambda c: custody.grant(c, pairs, name, actor=session.account))
        elif action == "revoke":
            if "admin" not in account_of(request).roles:
                raise web.HTTPForbidden()
            await state.contact.db(lambda c: custody.revoke(c, name, actor=session.account))
        else:
            raise web.HTTPBadRequest()
    except WrongStateError:
        return await access_page(request, "access_invalid", 422)
    return redirect("/staff/inbox/access?" + urlencode({"done": "granted" if action == "grant" else "revoked"}))
