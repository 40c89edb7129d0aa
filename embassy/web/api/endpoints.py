"""Every API endpoint with the roles it needs: the one table the API's middleware reads.

``roles=None``: no token needed (the index and the OpenAPI document); an empty set: any valid
token; else the token must carry one of the roles (its scopes as the account holds them now).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from embassy.web.api import views, views_inbox

View = Callable[[web.Request], Awaitable[web.StreamResponse]]
ANY_TOKEN: frozenset[str] = frozenset()
OFFICERS = frozenset({"consular", "admin"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # below /api/v1
    name: str
    roles: frozenset[str] | None
    view: View
    summary: str


ENDPOINTS = (
    Endpoint("GET", "/", "api_index", None, views.index, "What this API is and where its description lives"),
    Endpoint("GET", "/openapi.json", "api_openapi", None, views.openapi, "This API's OpenAPI 3.1 description"),
    Endpoint("GET", "/me", "api_me", ANY_TOKEN, views.me, "The account and roles the token speaks for"),
    Endpoint("GET", "/staff", "api_staff", frozenset({"admin"}), views.staff, "Staff accounts (admin)"),
    Endpoint("GET", "/audit", "api_audit", frozenset({"admin"}), views.audit, "Audit log entries after seq N (admin)"),
    Endpoint("GET", "/inbox", "api_inbox", OFFICERS, views_inbox.inbox, "The consular queue, emergency first (consular)"),
    Endpoint("GET", "/cases/{id}", "api_case", OFFICERS, views_inbox.case, "A case's metadata; content stays sealed"),
    Endpoint("POST", "/cases/{id}/reply", "api_case_reply", OFFICERS, views_inbox.reply,
             "Reply to a case, sealed to its code holder and the inbox"),
    Endpoint("POST", "/cases/{id}/status", "api_case_status", OFFICERS, views_inbox.status, "Set a case's status"),
)

ROLES_BY_NAME = {e.name: e.roles for e in ENDPOINTS}


def setup_routes(app: web.Application) -> None:
    for e in ENDPOINTS:
        app.router.add_route(e.method, e.path, e.view, name=e.name)
