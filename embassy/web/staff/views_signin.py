"""Signing in and out: /staff/login, the second-factor step, /staff/logout, the staff assets."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from embassy.staff import accounts
from embassy.staff.signin import Result
from embassy.web.staff.access import CONTINUE
from embassy.web.staff.pages import (
    ACCOUNT,
    SESSION,
    STAFF,
    clear_session_cookie,
    client_address,
    form,
    redirect,
    render,
    session_of,
    set_inbox_cookie,
    set_session_cookie,
)


async def login_page(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is not None and session.full:
        return web.Response(status=302, headers={"Location": "/staff/"})
    notice = "signed_out" if request.query.get("signed_out") == "1" else ""
    if request.query.get("restart") == "1":
        notice = "restart"
    return render(request, "login.html", "staff", notice=notice, error="", name="")


async def login_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    fields = await form(request)
    name = fields.get("name", "")
    result = await state.signin.password(
        name, fields.get("password", ""), client_address(request), request.headers.get("User-Agent", "")
    )
    if not result.ok:
        return _failed(request, result, "login.html", "staff", name=name.strip()[:32], notice="")
    old = request.get(SESSION)
    if old is not None:
        await state.db.run(lambda c: c.sessions.end(old))
    return _advanced(result)


def _advanced(result: Result) -> web.StreamResponse:
    assert result.session is not None
    response = redirect(CONTINUE[result.session.stage])
    set_session_cookie(response, result.token)
    if result.hook_secret:
        set_inbox_cookie(response, result.hook_secret)
    return response


def _failed(request: web.Request, result: Result, template: str, title: str, **context: Any) -> web.StreamResponse:
    """The one failure page for every kind of wrong answer (429 with the wait when throttled)."""
    if result.outcome == "restart":
        response: web.StreamResponse = redirect("/staff/login?restart=1")
        clear_session_cookie(response)
        return response
    if result.outcome == "throttled":
        seconds = str(int(result.wait) + 1)
        response = render(request, template, title, status=429, error="throttled", seconds=seconds, **context)
        response.headers["Retry-After"] = seconds
        return response
    return render(request, template, title, status=401, error="login_failed", **context)


async def factor_page(request: web.Request) -> web.StreamResponse:
    return await _factor_page(request, "", 200)


async def _factor_page(request: web.Request, error: str, status: int, seconds: str = "") -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    account = await state.db.run(lambda c: accounts.get(c.mission, session.account))
    return render(
        request, "factor.html", "factor_title", status=status, error=error, seconds=seconds,
        has_passkey=account.passkeys > 0 and state.rp is not None, has_totp=account.totp_secret is not None,
        wrong_host=account.passkeys > 0 and state.rp is not None and not _on_rp_host(request),
    )  # fmt: skip


def _on_rp_host(request: web.Request) -> bool:
    rp = request.app[STAFF].rp
    return rp is not None and (request.host or "").split(":")[0] == rp.id


async def _factor_result(request: web.Request, result: Result) -> web.StreamResponse:
    if result.ok:
        return _advanced(result)
    if result.outcome == "restart":
        return _failed(request, result, "", "")
    if result.outcome == "throttled":
        response = await _factor_page(request, "throttled", 429, str(int(result.wait) + 1))
        response.headers["Retry-After"] = str(int(result.wait) + 1)
        return response
    return await _factor_page(request, "login_failed", 401)


async def _factor_post(request: web.Request, field: str, check: Callable[..., Awaitable[Result]]) -> web.StreamResponse:
    answer = (await form(request)).get(field, "")
    return await _factor_result(request, await check(session_of(request), answer, client_address(request)))


async def totp_post(request: web.Request) -> web.StreamResponse:
    return await _factor_post(request, "code", request.app[STAFF].signin.totp)


async def recovery_post(request: web.Request) -> web.StreamResponse:
    return await _factor_post(request, "code", request.app[STAFF].signin.recovery_code)


async def passkey_options(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    options = await state.signin.passkey_options(session_of(request))
    if options is None:
        return web.json_response({"error": "no passkey can be used here"}, status=409)
    return web.Response(text=options, content_type="application/json")


async def passkey_post(request: web.Request) -> web.StreamResponse:
    return await _factor_post(request, "credential", request.app[STAFF].signin.passkey)


async def logout(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    fields = await form(request)
    everywhere = fields.get("everywhere") == "1" and session.full
    address = client_address(request)

    def out(c):  # type: ignore[no-untyped-def]
        ended = c.sessions.end_account(session.account) if everywhere else (c.sessions.end(session) or 1)
        c.audit(session.account, "sign_out.everywhere" if everywhere else "sign_out",
                {"address": address, "sessions_ended": ended})  # fmt: skip

    await state.db.run(out)
    request[SESSION] = None
    request[ACCOUNT] = None
    response = redirect("/staff/login?signed_out=1")
    clear_session_cookie(response)
    return response


async def static(request: web.Request) -> web.StreamResponse:
    asset = request.app[STAFF].assets.get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    return web.Response(
        body=asset.body,
        headers={"Content-Type": asset.content_type, "Cache-Control": "public, max-age=31536000, immutable"},
    )
