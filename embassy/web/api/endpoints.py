"""Every API endpoint with the roles it needs: the one table the API's middleware reads.

``roles=None``: no token needed (the index and the OpenAPI document); an empty set: any valid
token; else the token must carry one of the roles (its scopes as the account holds them now).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from embassy.web.api import views

View = Callable[[web.Request], Awaitable[web.StreamResponse]]
ANY_TOKEN: frozenset[str] = frozenset()


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
)

ROLES_BY_NAME = {e.name: e.roles for e in ENDPOINTS}


def setup_routes(app: web.Application) -> None:
    for e in ENDPOINTS:
        app.router.add_route(e.method, e.path, e.view, name=e.name)
