"""The inbox's API endpoints (consular and admin): the queue, a case's metadata, reply, status.

A token holds no inbox key, so ``GET /cases/{id}`` gives the case's metadata and its entries'
kinds and times with ``"sealed": true``, never their content: reading a message needs an officer's
signed-in session (embassy/contact/officer_session.py). A reply needs no private key (it is sealed
to the code holder's and the inbox's public keys), so it works with a token. Every call is audited.
"""

from aiohttp import web

from embassy.audit.log import record
from embassy.contact import cases, reading
from embassy.contact.errors import CaseNotFoundError
from embassy.contact.model import CHANNELS, STATUSES
from embassy.publishing.errors import InvalidFieldError
from embassy.web.api import models_inbox as mi
from embassy.web.api.body import answer, read_json
from embassy.web.api.state import API
from embassy.web.api.views import principal_of


def _case_id(request: web.Request) -> str:
    case_id = request.match_info["id"]
    if len(case_id) != 16 or any(ch not in "0123456789abcdef" for ch in case_id):
        raise web.HTTPNotFound(reason="no such case")
    return case_id


def _summary(found: cases.Case) -> mi.CaseSummary:
    return mi.CaseSummary.model_validate(found.to_json())


async def inbox(request: web.Request) -> web.Response:
    p = principal_of(request)
    channel, status = request.query.get("channel", ""), request.query.get("status", "")
    if channel and channel not in CHANNELS:
        raise InvalidFieldError("channel", f"use one of {', '.join(CHANNELS)}")
    if status and status not in (*STATUSES, "all"):
        raise InvalidFieldError("status", f"use one of {', '.join(STATUSES)} or all")
    contact = request.app[API].contact

    def load(c):  # type: ignore[no-untyped-def]
        found = cases.queue(c, cases.QueueFilter(channel=channel, status=status))
        record(c, p.account, "inbox.viewed", {"channel": channel, "status": status, "shown": len(found),
                                              "token": p.token_id})  # fmt: skip
        return found

    found = await contact.db(load)
    return answer(mi.Inbox(cases=[_summary(c) for c in found]))


async def case(request: web.Request) -> web.Response:
    p = principal_of(request)
    case_id = _case_id(request)

    def load(c):  # type: ignore[no-untyped-def]
        found = cases.get(c, case_id)
        entries = [mi.CaseEntry(kind=m.kind, author=m.author, created=m.created,  # type: ignore[arg-type]
                                attachments=len(m.attachments), sealed=True) for m in cases.messages(c, case_id)]  # fmt: skip
        record(c, p.account, "case.viewed", {"case": case_id, "content_shown": False, "token": p.token_id})
        return found, entries

    try:
        found, entries = await request.app[API].contact.db(load)
    except CaseNotFoundError as e:
        raise web.HTTPNotFound(reason="no such case") from e
    return answer(mi.CaseDetail(**_summary(found).model_dump(), entries=entries, message=None))


async def reply(request: web.Request) -> web.Response:
    p = principal_of(request)
    case_id = _case_id(request)
    body = await read_json(request, mi.Reply)
    text = body.body.strip()
    if not text:
        raise InvalidFieldError("body", "a reply needs some text")
    contact = request.app[API].contact
    try:
        await contact.db(lambda c: reading.reply(c, case_id, text, actor=p.account, status=body.status))
        found = await contact.db(lambda c: cases.get(c, case_id))
    except CaseNotFoundError as e:
        raise web.HTTPNotFound(reason="no such case") from e
    return answer(_summary(found), status=201)


async def status(request: web.Request) -> web.Response:
    p = principal_of(request)
    case_id = _case_id(request)
    wanted = (await read_json(request, mi.StatusChange)).status
    try:
        found = await request.app[API].contact.db(lambda c: cases.set_status(c, case_id, wanted, actor=p.account))
    except CaseNotFoundError as e:
        raise web.HTTPNotFound(reason="no such case") from e
    return answer(_summary(found))
