"""The inbox's API endpoints (consular and admin): the queue, a case's metadata, reply, status.

A token holds no inbox key, so ``GET /cases/{id}`` gives the case's metadata and its entries'
kinds and times with ``"sealed": true``, never their content: reading a message needs an officer's
signed-in session (embassy/contact/officer_session.py). A reply needs no private key (it is sealed
to the code holder's and the inbox's public keys), so it works with a token. Every call is audited.
"""

import json

from aiohttp import web

from embassy.audit.log import record
from embassy.contact import cases, reading
from embassy.contact.errors import CaseNotFoundError
from embassy.contact.model import CHANNELS, STATUSES
from embassy.web.api.state import API
from embassy.web.api.views import NO_STORE, principal_of

MAX_REPLY = 8000


def _case_id(request: web.Request) -> str:
    case_id = request.match_info["id"]
    if len(case_id) != 16 or any(ch not in "0123456789abcdef" for ch in case_id):
        raise web.HTTPNotFound(reason="no such case")
    return case_id


async def _json(request: web.Request) -> dict[str, object]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="send application/json")
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as e:
        raise web.HTTPBadRequest(reason="the body is not JSON") from e
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return body


async def inbox(request: web.Request) -> web.Response:
    p = principal_of(request)
    channel, status = request.query.get("channel", ""), request.query.get("status", "")
    if channel and channel not in CHANNELS:
        raise web.HTTPUnprocessableEntity(reason=f"channel: use one of {', '.join(CHANNELS)}")
    if status and status not in (*STATUSES, "all"):
        raise web.HTTPUnprocessableEntity(reason=f"status: use one of {', '.join(STATUSES)} or all")
    contact = request.app[API].contact

    def load(c):  # type: ignore[no-untyped-def]
        found = cases.queue(c, cases.QueueFilter(channel=channel, status=status))
        record(c, p.account, "inbox.viewed", {"channel": channel, "status": status, "shown": len(found),
                                              "token": p.token_id})  # fmt: skip
        return found

    found = await contact.db(load)
    return web.json_response({"cases": [c.to_json() for c in found]}, headers=NO_STORE)


async def case(request: web.Request) -> web.Response:
    p = principal_of(request)
    case_id = _case_id(request)

    def load(c):  # type: ignore[no-untyped-def]
        found = cases.get(c, case_id)
        entries = [{"kind": m.kind, "author": m.author, "created": m.created, "attachments": len(m.attachments),
                    "sealed": True} for m in cases.messages(c, case_id)]  # fmt: skip
        record(c, p.account, "case.viewed", {"case": case_id, "content_shown": False, "token": p.token_id})
        return found, entries

    try:
        found, entries = await request.app[API].contact.db(load)
    except CaseNotFoundError as e:
        raise web.HTTPNotFound(reason="no such case") from e
    return web.json_response({**found.to_json(), "entries": entries, "message": None}, headers=NO_STORE)


async def reply(request: web.Request) -> web.Response:
    p = principal_of(request)
    case_id = _case_id(request)
    body = await _json(request)
    text = body.get("body")
    raw_status = body.get("status")
    status = raw_status if isinstance(raw_status, str) else None
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_REPLY:
        raise web.HTTPUnprocessableEntity(reason=f"body: a reply of 1 to {MAX_REPLY} characters")
    if raw_status is not None and status not in STATUSES:
        raise web.HTTPUnprocessableEntity(reason=f"status: use one of {', '.join(STATUSES)}")
    contact = request.app[API].contact
    try:
        await contact.db(lambda c: reading.reply(c, case_id, text.strip(), actor=p.account, status=status))
        found = await contact.db(lambda c: cases.get(c, case_id))
    except CaseNotFoundError as e:
        raise web.HTTPNotFound(reason="no such case") from e
    return web.json_response(found.to_json(), status=201, headers=NO_STORE)


async def status(request: web.Request) -> web.Response:
    p = principal_of(request)
    case_id = _case_id(request)
    wanted = (await _json(request)).get("status")
    if wanted not in STATUSES:
        raise web.HTTPUnprocessableEntity(reason=f"status: use one of {', '.join(STATUSES)}")
    try:
        found = await request.app[API].contact.db(lambda c: cases.set_status(c, case_id, str(wanted), actor=p.account))
    except CaseNotFoundError as e:
        raise web.HTTPNotFound(reason="no such case") from e
    return web.json_response(found.to_json(), headers=NO_STORE)
