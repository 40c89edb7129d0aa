"""The API's endpoints (the table is endpoints.py; the OpenAPI document openapi.py)."""

import asyncio
import json
from datetime import UTC, datetime

from aiohttp import web

from embassy.audit.log import MAX_PAGE, entries
from embassy.continuous.state import read_document
from embassy.staff import accounts
from embassy.staff.tokens import Principal
from embassy.web.api import models as m
from embassy.web.api.body import answer
from embassy.web.api.models_replication import Replication
from embassy.web.api.state import API, PRINCIPAL
from embassy.web.site import SITE


def principal_of(request: web.Request) -> Principal:
    p = request.get(PRINCIPAL)
    assert p is not None, "the endpoint table lets this view run with a token only"
    return p  # type: ignore[no-any-return]  # aiohttp's RequestKey.get is typed Any


async def index(request: web.Request) -> web.Response:
    site = request.config_dict[SITE]
    return answer(m.Index(name=f"{site.config.mission.name} staff API", version="v1", openapi="/api/v1/openapi.json"))


async def openapi(request: web.Request) -> web.Response:
    from embassy.web.api.openapi import openapi_document

    site = request.config_dict[SITE]
    doc = openapi_document(site.config.server.public_url, site.config.mission.name, site.languages)
    return web.Response(
        text=json.dumps(doc, indent=2), content_type="application/json", headers={"Cache-Control": "public, max-age=3600"}
    )


async def me(request: web.Request) -> web.Response:
    p = principal_of(request)
    return answer(m.Me(name=p.account, roles=sorted(p.roles), token=p.token_id))


async def staff(request: web.Request) -> web.Response:
    db = request.app[API].db
    every = await db.run(lambda c: accounts.list_accounts(c.mission))
    return answer(m.Accounts(accounts=[m.Account.model_validate(a.to_json()) for a in every]))


async def audit(request: web.Request) -> web.Response:
    raw = request.query.get("after", "0") or "0"
    if not (raw.isascii() and raw.isdigit() and len(raw) < 19):
        raise web.HTTPBadRequest(reason="after: give the number of the last entry you have (0 for all)")
    after = int(raw)
    db = request.app[API].db
    found = await db.run(lambda c: entries(c.mission, after, MAX_PAGE))
    return answer(m.Audit(entries=[m.AuditEntry(**e.to_json()) for e in found], more=len(found) == MAX_PAGE))


async def replication(request: web.Request) -> web.Response:
    """What the supervisor last published, its ages brought up to now."""
    site = request.config_dict[SITE]
    doc = await asyncio.to_thread(read_document, site.config.data_dir)
    if doc is None:  # no supervisor replicates (a process serving without one): nothing to report
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return answer(Replication(replicating=False, ok=False, updated=now, stores=[], registries=[], last_drill=None,
                                  alerts=[]))  # fmt: skip
    try:
        late = (datetime.now(UTC) - datetime.fromisoformat(str(doc["updated"]))).total_seconds()
    except (KeyError, ValueError):
        late = 0.0
    for reg in doc.get("registries", []):
        for row in [reg, *reg.get("stores", {}).values()]:
            for key in ("age_seconds", "rpo_seconds"):
                if isinstance(row.get(key), int | float):
                    row[key] = round(row[key] + max(0.0, late), 1)
    return answer(Replication.model_validate({**doc, "replicating": True}))
