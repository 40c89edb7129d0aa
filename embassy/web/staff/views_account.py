"""One's own account: the overview, password, second factors, recovery codes, sessions, API tokens."""

import time

from aiohttp import web

from embassy.contact.officer_session import INBOX_COOKIE
from embassy.staff import accounts, tokens, totp
from embassy.staff.accounts import Account
from embassy.staff.enrol import Changed, ReauthenticationError
from embassy.staff.errors import LastFactorError, PasskeyError, StaffError, WeakPasswordError
from embassy.staff.roles import ROLES
from embassy.staff.sessions import Session
from embassy.web.staff.access import CONTINUE
from embassy.web.staff.pages import (
    ACCOUNT,
    CSRF,
    SESSION,
    STAFF,
    account_of,
    client_address,
    form,
    form_list,
    language,
    redirect,
    render,
    session_of,
    set_session_cookie,
    words,
)

DONE = frozenset({"password", "totp", "passkey", "removed", "codes", "sessions"})


async def home(request: web.Request) -> web.StreamResponse:
    return render(request, "home.html", "home_title", account=account_of(request))


async def account_page(request: web.Request) -> web.StreamResponse:
    return await _account_page(request)


async def _account_page(request: web.Request, error: str = "", status: int = 200) -> web.StreamResponse:
    state = request.app[STAFF]
    account = account_of(request)
    keys = await state.db.run(lambda c: accounts.passkeys(c.mission, account.name))
    done = request.query.get("done", "")
    return render(
        request, "account.html", "account_title", status=status, account=account, passkeys=keys, error=error,
        done=done if done in DONE else "",
    )  # fmt: skip


def _apply(request: web.Request, changed: Changed, response: web.StreamResponse) -> web.StreamResponse:
    set_session_cookie(response, changed.token)
    return response


def _adopt(request: web.Request, changed: Changed, account: Account | None = None) -> None:
    """Render what follows with the session's new id and token."""
    request[SESSION] = changed.session
    request[CSRF] = changed.session.csrf
    if account is not None:
        request[ACCOUNT] = account


async def _reauthenticate(request: web.Request, fields: dict[str, str]) -> None:
    state = request.app[STAFF]
    await state.enrolment.reauthenticate(session_of(request), fields.get("password", ""), client_address(request))


# -- password ----------------------------------------------------------------------------------------


async def password_page(request: web.Request) -> web.StreamResponse:
    return render(request, "password.html", "password_title", error="", first=not session_of(request).full)


async def password_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    fields = await form(request)
    try:
        await _reauthenticate(request, fields)
        changed = await state.enrolment.change_password(session, fields.get("new", ""), fields.get("repeat", ""))
    except ReauthenticationError:
        return render(request, "password.html", "password_title", status=401, error="pw_wrong_current",
                      first=not session.full)  # fmt: skip
    except WeakPasswordError as e:
        return render(request, "password.html", "password_title", status=400, error="pw_" + e.reason,
                      first=not session.full)  # fmt: skip
    await _rewrap_officer_key(request, session, fields.get("password", ""), fields.get("new", ""))
    target = "/staff/account?done=password" if changed.session.full and session.full else CONTINUE[changed.session.stage]
    return _apply(request, changed, redirect(target))


async def _rewrap_officer_key(request: web.Request, session: Session, current: str, new: str) -> None:
    """The officer key follows the password: the same key, wrapped under the new one (from this
    session's unlocked keys, else opened with the current password just checked)."""
    state = request.app[STAFF]
    keys = await state.unlock.keys_of(session, request.cookies.get(INBOX_COOKIE, ""))
    if keys is None and session.full and current:
        keys = await state.unlock.after_password(session.account, current)
    if keys is not None:
        await state.unlock.rewrap(session.account, keys, new)


# -- second factors ----------------------------------------------------------------------------------


async def factors_page(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if session.full:
        return web.Response(status=302, headers={"Location": "/staff/account"})
    return render(request, "factors.html", "enrol_title", error="")


async def totp_page(request: web.Request, error: str = "", status: int = 200) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, session.account, state.config.mission.name)
    qr = totp.qr_svg(uri, words(language(request))["totp_qr"])
    return render(
        request, "totp.html", "totp_title", status=status, error=error, secret=secret,
        grouped=totp.grouped(secret), qr=qr, first=not session.full,
    )  # fmt: skip


async def totp_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    fields = await form(request)
    try:
        await _reauthenticate(request, fields)
        changed = await state.enrolment.confirm_totp(session, fields.get("secret", ""), fields.get("code", ""))
    except ReauthenticationError:
        return await totp_page(request, "pw_wrong_current", 401)
    except StaffError:
        return await totp_page(request, "totp_mismatch", 400)
    return await _factor_added(request, changed, "totp")


async def _factor_added(request: web.Request, changed: Changed, what: str) -> web.StreamResponse:
    if changed.recovery_codes:
        state = request.app[STAFF]
        account = await state.db.run(lambda c: accounts.get(c.mission, changed.session.account))
        _adopt(request, changed, account)
        return _apply(request, changed, render(request, "codes.html", "codes_title", codes=changed.recovery_codes))
    return _apply(request, changed, redirect(f"/staff/account?done={what}"))


async def totp_remove(request: web.Request) -> web.StreamResponse:
    return await _remove(request, lambda s, fields: request.app[STAFF].enrolment.remove_totp(s))


async def _remove(request: web.Request, action) -> web.StreamResponse:  # type: ignore[no-untyped-def]
    fields = await form(request)
    try:
        await _reauthenticate(request, fields)
        changed = await action(session_of(request), fields)
    except ReauthenticationError:
        return await _account_page(request, "pw_wrong_current", 401)
    except LastFactorError:
        return await _account_page(request, "last_factor", 409)
    except StaffError:
        return await _account_page(request, "error_bad_request_text", 400)
    return _apply(request, changed, redirect("/staff/account?done=removed"))


async def passkey_options(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    try:
        options = await state.enrolment.passkey_options(session_of(request))
    except PasskeyError as e:
        return web.json_response({"error": str(e)}, status=409)
    return web.Response(text=options, content_type="application/json")


async def passkey_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    fields = await form(request)
    page = "factors.html" if not session.full else "account.html"
    try:
        await _reauthenticate(request, fields)
        changed = await state.enrolment.register_passkey(session, fields.get("credential", ""), fields.get("label", ""))
    except ReauthenticationError:
        return await _passkey_error(request, page, "pw_wrong_current", 401)
    except PasskeyError:
        return await _passkey_error(request, page, "passkey_failed", 400)
    return await _factor_added(request, changed, "passkey")


async def _passkey_error(request: web.Request, page: str, error: str, status: int) -> web.StreamResponse:
    if page == "account.html":
        return await _account_page(request, error, status)
    return render(request, page, "enrol_title", status=status, error=error)


async def passkey_remove(request: web.Request) -> web.StreamResponse:
    def remove(session: Session, fields: dict[str, str]):  # type: ignore[no-untyped-def]
        try:
            credential_id = bytes.fromhex(fields.get("credential_id", ""))
        except ValueError as e:
            raise StaffError("not a passkey") from e
        return request.app[STAFF].enrolment.remove_passkey(session, credential_id)

    return await _remove(request, remove)


async def recovery_codes(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    fields = await form(request)
    try:
        await _reauthenticate(request, fields)
    except ReauthenticationError:
        return await _account_page(request, "pw_wrong_current", 401)
    changed = await state.enrolment.new_recovery_codes(session_of(request))
    account = await state.db.run(lambda c: accounts.get(c.mission, changed.session.account))
    _adopt(request, changed, account)
    return _apply(request, changed, render(request, "codes.html", "codes_title", codes=changed.recovery_codes))


# -- sessions ----------------------------------------------------------------------------------------


async def sessions_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    live = await state.db.run(lambda c: c.sessions.list_for(session.account))
    rows = [
        {"id": s.public_id, "device": s.device, "address": s.address, "last": _ago(s.last_seen),
         "started": _ago(s.created), "current": s.id_hash == session.id_hash}
        for s in live
    ]  # fmt: skip
    return render(request, "sessions.html", "sessions_title", rows=rows, done=request.query.get("done", ""))


def _ago(ts: float) -> str:  # an absolute time: the page may be read later
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


async def sessions_end(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    which = (await form(request)).get("session", "")
    address = client_address(request)

    def end(c):  # type: ignore[no-untyped-def]
        if which == "others":
            n = c.sessions.end_account(session.account, keep=session)
        else:
            n = int(which != session.public_id and c.sessions.end_public(session.account, which))
        c.audit(session.account, "sessions.ended", {"account": session.account, "count": n, "address": address})

    await state.db.run(end)
    return redirect("/staff/sessions?done=sessions")


# -- API tokens --------------------------------------------------------------------------------------


async def tokens_page(request: web.Request) -> web.StreamResponse:
    return await _tokens_page(request)


async def _tokens_page(
    request: web.Request, *, new_token: str = "", error: str = "", status: int = 200
) -> web.StreamResponse:
    state = request.app[STAFF]
    account = account_of(request)
    mine = await state.db.run(lambda c: tokens.list_for(c.mission, account.name))
    return render(
        request, "tokens.html", "tokens_title", status=status, tokens=mine, roles=account.roles, new_token=new_token,
        error=error, default_days=tokens.DEFAULT_DAYS, max_days=tokens.MAX_DAYS,
    )  # fmt: skip


async def tokens_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    account = account_of(request)
    fields = await form(request)
    scopes = [s for s in await form_list(request, "scope") if s in ROLES]
    try:
        days = int(fields.get("days", "") or tokens.DEFAULT_DAYS)
    except ValueError:
        return await _tokens_page(request, error="token_bad_days", status=400)
    if not scopes:
        return await _tokens_page(request, error="token_no_scope", status=400)
    try:
        secret, _ = await state.db.run(
            lambda c: tokens.create(c.mission, account.name, scopes, days, actor=account.name,
                                    label=fields.get("label", ""))
        )  # fmt: skip
    except StaffError:
        return await _tokens_page(request, error="token_bad_days", status=400)
    return await _tokens_page(request, new_token=secret)


async def tokens_revoke(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    account = account_of(request)
    token_id = (await form(request)).get("id", "")
    try:
        await state.db.run(lambda c: tokens.revoke(c.mission, token_id, actor=account.name, owner=account.name))
    except StaffError:
        raise web.HTTPNotFound() from None
    return redirect("/staff/tokens")
