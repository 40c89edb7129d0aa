"""The API's one middleware: bearer-token authentication, roles, JSON errors, no caching.

1. An endpoint that needs a token reads ``Authorization: Bearer <token>``; a missing, malformed,
   unknown, expired or revoked token, or one of a disabled account, answers 401 with
   ``WWW-Authenticate: Bearer``. A token without the endpoint's role answers 403.
2. Errors are ``{"error": "..."}`` with their status; nothing answers with a page. The publishing
   workflow's errors map here: not found 404, not allowed (roles, two-person rule) 403, wrong
   state 409, an invalid field 422 (``"field"`` names it), an image over the size limit 413.
3. No response sets a cookie: a token never opens a session.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Middleware

from embassy.publishing.errors import (
    ImageTooLargeError,
    InvalidFieldError,
    NotAllowedError,
    NotFoundError,
    PublishingError,
    StateError,
)
from embassy.staff import tokens
from embassy.web.api.endpoints import ROLES_BY_NAME
from embassy.web.api.state import API, PRINCIPAL
from embassy.web.params import InputError

log = logging.getLogger("embassy.web.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REASONS = {
    400: "bad request",
    401: "no or bad token: send Authorization: Bearer <token>",
    403: "this token's scopes do not allow this",
    404: "no such endpoint",
    405: "method not allowed here",
    409: "wrong state",
    413: "request too large",
    422: "invalid fields",
    429: "too many requests",
}


def api_middleware() -> Middleware:
    @web.middleware
    async def api(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            name = request.match_info.route.name or ""
            roles = ROLES_BY_NAME.get(name)
            if name in ROLES_BY_NAME and roles is not None:
                await _authenticate(request, roles)
            response = await handler(request)
        except web.HTTPException as e:
            response = _json_error(e)
        except PublishingError as e:
            response = _publishing_error(e)
        except InputError as e:
            response = web.json_response({"error": str(e)}, status=e.status)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, request.path)
            response = web.json_response({"error": "internal error"}, status=500)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return api


async def _authenticate(request: web.Request, roles: frozenset[str]) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="api"'})
    db = request.app[API].db
    principal = await db.run(
        lambda c: tokens.authenticate(c.mission, presented.strip(), method=request.method, path=request.path)
    )
    if principal is None:
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'})
    if roles and not roles & principal.roles:
        raise web.HTTPForbidden()
    request[PRINCIPAL] = principal


def _json_error(e: web.HTTPException) -> web.StreamResponse:
    if e.status < 400:
        return web.Response(status=e.status, headers=e.headers)
    default = e.reason == HTTPStatus(e.status).phrase  # raised without a reason of its own
    message = REASONS.get(e.status, e.reason.lower()) if default else e.reason
    headers = {k: v for k, v in e.headers.items() if k.lower() in ("www-authenticate", "retry-after", "allow")}
    return web.json_response({"error": message}, status=e.status, headers=headers)


STATUSES: tuple[tuple[type[PublishingError], int], ...] = (
    (ImageTooLargeError, 413), (InvalidFieldError, 422), (NotFoundError, 404), (NotAllowedError, 403), (StateError, 409),
)  # fmt: skip


def _publishing_error(e: PublishingError) -> web.StreamResponse:
    status = next((code for kind, code in STATUSES if isinstance(e, kind)), 400)
    body: dict[str, str] = {"error": str(e)}
    if isinstance(e, InvalidFieldError):
        body["field"] = e.field
    return web.json_response(body, status=status)
