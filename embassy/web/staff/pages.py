"""The staff area's state, its cookies, and the frame every staff page is rendered in."""

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from embassy.config import Config
from embassy.contact.officer_session import INBOX_COOKIE, InboxUnlock
from embassy.contact.service import ContactService
from embassy.continuous.state import DOCUMENT, read_document
from embassy.staff.accounts import Account
from embassy.staff.enrol import Enrolment
from embassy.staff.passkeys import RelyingParty
from embassy.staff.passwords import PasswordPool
from embassy.staff.service import StaffDb
from embassy.staff.sessions import Session
from embassy.staff.signin import SignIn
from embassy.web import i18n
from embassy.web.params import InputError, Params, UnsupportedFormError, UploadedFile, read_form, read_upload
from embassy.web.render import Asset
from embassy.web.site import SITE
from embassy.web.staff.words import STAFF_LANGUAGES, STAFF_WORDS

SESSION_COOKIE = "__Host-embassy-session"
LOGIN_COOKIE = "__Host-embassy-login"  # the sign-in form's CSRF token, before there is a session
MAX_FIELD = 4096

# what the middleware puts on each request
SESSION = web.RequestKey[Session | None]("staff_session")
ACCOUNT = web.RequestKey[Account | None]("staff_account")
CSRF = web.RequestKey("staff_csrf", str)
NEW_LOGIN_TOKEN = web.RequestKey("staff_new_login_token", str)  # a cookie to set on the answer
BODY_LIMIT = web.RequestKey("staff_body_limit", int)  # the route's own body limit, when it has one
UPLOAD_FIELDS = web.RequestKey("staff_upload_fields", frozenset)  # the route's file fields, when it takes files
POSTED = web.RequestKey("staff_posted", tuple)  # the form once read: (fields, files)


@dataclass
class StaffState:
    config: Config
    db: StaffDb
    pool: PasswordPool
    signin: SignIn
    enrolment: Enrolment
    rp: RelyingParty | None
    assets: dict[str, Asset]
    origins: frozenset[str]  # the origins a state-changing request may come from
    unlock: InboxUnlock  # the officers' keys for their sessions (embassy/contact/officer_session.py)
    contact: ContactService  # the inbox's database thread
    error_pages: dict[tuple[int, str], bytes] = field(default_factory=dict)


STAFF = web.AppKey("staff", StaffState)

NAV = (
    ("nav_home", "/staff/", ""),
    ("nav_account", "/staff/account", ""),
    ("nav_sessions", "/staff/sessions", ""),
    ("nav_items", "/staff/items", "editor publisher admin"),
    ("nav_translations", "/staff/translations", "editor publisher admin"),
    ("nav_tokens", "/staff/tokens", ""),
    ("nav_inbox", "/staff/inbox", "consular admin"),
    ("nav_accounts", "/staff/admin/accounts", "admin"),
    ("nav_audit", "/staff/admin/audit", "admin"),
)


def set_session_cookie(response: web.StreamResponse, token: str) -> None:
    """``__Host-``: only this host, path /, never sent over plain HTTP but to localhost."""
    response.set_cookie(SESSION_COOKIE, token, path="/", secure=True, httponly=True, samesite="Strict")


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.set_cookie(SESSION_COOKIE, "", path="/", secure=True, httponly=True, samesite="Strict", max_age=0)
    response.set_cookie(INBOX_COOKIE, "", path="/", secure=True, httponly=True, samesite="Strict", max_age=0)


def set_inbox_cookie(response: web.StreamResponse, secret: str) -> None:
    """The secret that opens this session's inbox keys (embassy/contact/officer_session.py)."""
    response.set_cookie(INBOX_COOKIE, secret, path="/", secure=True, httponly=True, samesite="Strict")


def set_login_cookie(response: web.StreamResponse, token: str) -> None:
    response.set_cookie(LOGIN_COOKIE, token, path="/", secure=True, httponly=True, samesite="Strict")


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def session_of(request: web.Request) -> Session:
    session = request.get(SESSION)
    assert session is not None, "the route table lets this view run with a session only"
    return session  # type: ignore[no-any-return]  # aiohttp's RequestKey.get is typed Any


def account_of(request: web.Request) -> Account:
    account = request.get(ACCOUNT)
    assert account is not None
    return account  # type: ignore[no-any-return]


def language(request: web.Request) -> str:
    site = request.config_dict[SITE]
    offered = [lang for lang in site.languages if lang in STAFF_LANGUAGES] or ["en"]
    return i18n.negotiate(request.headers.get("Accept-Language"), offered)


def words(lang: str) -> i18n.Words:
    return i18n.Words(lang, STAFF_WORDS)


def frame(request: web.Request, title_key: str, **title_values: str) -> dict[str, Any]:
    site = request.config_dict[SITE]
    state = request.config_dict[STAFF]
    lang = language(request)
    w = words(lang)
    session = request.get(SESSION)
    account = request.get(ACCOUNT)
    signed_in = session is not None and session.full and account is not None
    roles = set(account.roles) if account else set()
    path = request.path
    if session is None and not request.get(CSRF):  # a form before sign-in: a double-submit token
        request[CSRF] = request[NEW_LOGIN_TOKEN] = new_login_token()
    return {
        "lang": lang,
        "dir": i18n.direction(lang),
        "w": w,
        "mission": site.config.mission.name,
        "title": w(title_key, **title_values),
        "css_url": site.css.url,
        "staff_css_url": state.assets["staff.css"].url,
        "js_url": state.assets["staff.js"].url,
        "csrf": request.get(CSRF, ""),
        "user": account.name if account else "",
        "signed_in": signed_in,
        "has_session": session is not None,
        "nav": [
            {"label": w[key], "href": href, "current": path == href or (href != "/staff/" and path.startswith(href))}
            for key, href, role in NAV
            if signed_in and (not role or set(role.split()) & roles)
        ],
        "https_warning": _needs_https(request),
        # Admins see the replication alerts the supervisor raised (embassy/continuous/alerts.py).
        "replication_alerts": replication_alerts(site.config.data_dir) if signed_in and "admin" in roles else [],
        "passkeys": state.rp is not None,
        "passkey_host": state.rp.origin if state.rp else "",
    }


def replication_alerts(data_dir: Path) -> list[str]:
    """The messages of the alerts raised now: a small file the supervisor rewrites, read again only when it changed."""
    path = data_dir / "run" / DOCUMENT
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return []
    cached = _ALERTS.get(path)
    if cached is None or cached[0] != stamp:
        doc = read_document(data_dir) or {}
        messages = [str(a.get("message", "")) for a in doc.get("alerts", []) if isinstance(a, dict)]
        cached = _ALERTS[path] = (stamp, messages)
    return cached[1]


_ALERTS: dict[Path, tuple[int, list[str]]] = {}


def _needs_https(request: web.Request) -> bool:
    """True when the browser will refuse our Secure cookies: plain HTTP to a host other than localhost."""
    site = request.config_dict[SITE]
    if site.resolver.scheme(request) == "https":
        return False
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    return host not in ("localhost", "127.0.0.1", "::1")


def render(
    request: web.Request, template: str, title_key: str, *, status: int = 200, title_values: dict[str, str] | None = None,
    **context: Any,
) -> web.Response:  # fmt: skip
    site = request.config_dict[SITE]
    f = frame(request, title_key, **(title_values or {}))
    body = site.renderer.render(f"staff/{template}", f, **context)
    return web.Response(status=status, body=body, content_type="text/html", charset="utf-8")


def redirect(location: str) -> web.Response:
    """After a form: 303 See Other, so the browser follows with a GET."""
    return web.Response(status=303, headers={"Location": location})


async def posted(request: web.Request) -> tuple[Params, dict[str, UploadedFile]]:
    """The posted form (and, on a route that takes files, its files), read once, strictly and in
    time (embassy/web/params.py): a body that cannot be read, decoded or decompressed is a 400, an
    unsupported type or charset a 415, never a 500. A route may allow a larger body (routes.py)."""
    cached = request.get(POSTED)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    limit = request.get(BODY_LIMIT, 0)
    req = request.clone(client_max_size=limit) if limit else request
    timeout = request.config_dict[SITE].config.server.body_timeout
    try:
        files = request.get(UPLOAD_FIELDS)
        if files:
            result = await read_upload(req, timeout=timeout, files=files)
        else:
            result = (await read_form(req, timeout=timeout), {})
    except UnsupportedFormError as e:
        raise web.HTTPUnsupportedMediaType(reason="the form could not be read") from e
    except InputError as e:
        raise web.HTTPBadRequest(reason="the form could not be read") from e
    request[POSTED] = result
    return result


async def _posted(request: web.Request) -> Params:
    return (await posted(request))[0]


async def form(request: web.Request, long: frozenset[str] = frozenset()) -> dict[str, str]:
    """The posted form's text fields (over-long values refused as a bad request; the ``long`` ones
    are bounded by the route's body limit and their own checks)."""
    out: dict[str, str] = {}
    for key, value in (await _posted(request)).items():
        if len(value) > MAX_FIELD and key not in long:
            raise web.HTTPBadRequest(reason="the form holds a field that is not short text")
        out.setdefault(key, value)
    return out


async def form_list(request: web.Request, key: str) -> list[str]:
    return list((await _posted(request)).getall(key, []))


def client_address(request: web.Request) -> str:
    return request.config_dict[SITE].resolver.client(request) or "unknown"
