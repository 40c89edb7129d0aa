"""The staff area's one middleware: session, access, CSRF, headers and error pages.

For every request under /staff/, in this order:
1. The session cookie is looked up (a hash of it, in the sessions database). A session whose
   account is gone or disabled ends there and then.
2. The route's :class:`~embassy.web.staff.access.Access` decides: go on, 302 elsewhere, or 403.
3. A POST must come from this site: ``Sec-Fetch-Site`` must be ``same-origin`` when the browser
   sends it, else ``Origin`` must be one of ours when sent (a request with neither is judged by
   its token alone); and the form's ``csrf`` field must equal the session's token (before
   sign-in: the value of the ``__Host-embassy-login`` cookie, double-submit). Else 403.
4. Every answer is ``Cache-Control: no-store`` (static files aside) and carries the site's CSP
   with ``form-action 'self'``; errors are pages in the staff frame.
"""

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from embassy.staff import accounts
from embassy.staff.errors import PasswordPoolBusyError
from embassy.staff.sessions import Session
from embassy.web.cache import CSP
from embassy.web.site import SITE
from embassy.web.staff import access
from embassy.web.staff.pages import (
    ACCOUNT,
    BODY_LIMIT,
    CSRF,
    LOGIN_COOKIE,
    NEW_LOGIN_TOKEN,
    SESSION,
    SESSION_COOKIE,
    STAFF,
    UPLOAD_FIELDS,
    clear_session_cookie,
    posted,
    render,
    set_login_cookie,
)
from embassy.web.staff.routes import ACCESS, BODY_LIMITS, FILE_FIELDS

log = logging.getLogger("embassy.web.staff")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STAFF_CSP = CSP  # the site-wide CSP already ends with form-action 'self'
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

ERROR_WORDS = {
    400: "error_bad_request",
    403: "error_forbidden",
    404: "error_not_found",
    405: "error_bad_request",
    410: "error_not_found",
    413: "error_too_large",
    429: "error_busy",
    503: "error_busy",
}


def staff_middleware() -> Middleware:
    @web.middleware
    async def staff(request: web.Request, handler: Handler) -> web.StreamResponse:
        state = request.app[STAFF]
        route = request.match_info.route.name or ""
        rule = ACCESS.get(route, access.PUBLIC)
        if route in BODY_LIMITS:
            request[BODY_LIMIT] = BODY_LIMITS[route]
        if route in FILE_FIELDS:
            request[UPLOAD_FIELDS] = FILE_FIELDS[route]
        try:
            ended = await _load_session(request)
            decision = access.decide(rule, request.get(SESSION), _roles(request))
            if not decision.allowed:
                if decision.status == 403:
                    raise web.HTTPForbidden()
                response: web.StreamResponse = web.Response(status=302, headers={"Location": decision.location})
            elif request.method in UNSAFE and not await _csrf_ok(request, state.origins):
                raise web.HTTPForbidden(reason="csrf")
            else:
                response = await handler(request)
            if ended:
                clear_session_cookie(response)
        except web.HTTPException as e:
            response = _error(request, e)
        except PasswordPoolBusyError:
            response = _error(request, web.HTTPServiceUnavailable(headers={"Retry-After": "5"}))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, request.path)
            response = _error(request, web.HTTPInternalServerError())
        token = request.get(NEW_LOGIN_TOKEN)
        if token:
            set_login_cookie(response, token)
        h = response.headers
        if route != "staff_case_attachment" or response.status != 200:  # an attachment keeps its sandbox
            h["Content-Security-Policy"] = STAFF_CSP
        if route != "staff_static" or response.status != 200:
            h["Cache-Control"] = "no-store"
        return response

    return staff


async def _load_session(request: web.Request) -> bool:
    """Put the session (and its account) on the request; True when a stale cookie should go."""
    state = request.app[STAFF]
    token = request.cookies.get(SESSION_COOKIE, "")
    session: Session | None = None
    account = None
    if token:

        def load(c):  # type: ignore[no-untyped-def]
            s = c.sessions.load(token)
            a = accounts.find(c.mission, s.account) if s else None
            if s is not None and (a is None or a.disabled):
                c.sessions.end(s)
                return None, None
            return s, a

        session, account = await state.db.run(load)
    request[SESSION] = session
    request[ACCOUNT] = account
    if session is not None:
        request[CSRF] = session.csrf
    else:  # before sign-in: the login cookie's value (a page with a form mints one: pages.frame)
        login = request.cookies.get(LOGIN_COOKIE, "")
        request[CSRF] = login if len(login) == 43 else ""
    return bool(token) and session is None


def _roles(request: web.Request) -> frozenset[str]:
    account = request.get(ACCOUNT)
    return frozenset(account.roles) if account is not None else frozenset()


async def _csrf_ok(request: web.Request, origins: frozenset[str]) -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if fetch_site is not None:
        if fetch_site != "same-origin":
            return False
    elif origin is not None and origin not in origins and origin != _own_origin(request):
        return False
    presented = (await posted(request))[0].get("csrf", "")
    expected = request.get(CSRF, "")
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def _own_origin(request: web.Request) -> str:
    scheme = request.config_dict[SITE].resolver.scheme(request)
    return f"{scheme}://{request.host}"


def _error(request: web.Request, e: web.HTTPException) -> web.StreamResponse:
    if e.status < 400:
        return web.Response(status=e.status, headers=e.headers)
    key = ERROR_WORDS.get(e.status, "error_unexpected")
    if e.status == 403 and e.reason == "csrf":
        key = "error_csrf"
    headers = {k: v for k, v in e.headers.items() if k.lower() == "retry-after"}
    response = render(request, "error.html", key, status=e.status, message_key=key + "_text")
    response.headers.update(headers)
    return response
