"""Admins' pages: accounts (add, roles, disable, reset, unlock, end sessions) and the audit log."""

from aiohttp import web

from embassy.audit.log import page_before
from embassy.staff import accounts, operations
from embassy.staff.errors import AccountExistsError, InvalidNameError, NoSuchAccountError, RoleError, StaffError
from embassy.staff.passwords import new_one_time_password
from embassy.staff.roles import ROLES, check_name, parse_roles
from embassy.web.staff.pages import (
    CSRF,
    SESSION,
    STAFF,
    account_of,
    form,
    form_list,
    redirect,
    render,
    session_of,
    set_session_cookie,
)

ACTIONS = frozenset({"roles", "disable", "enable", "reset", "unlock", "end_sessions"})
AUDIT_PAGE = 100
ERRORS = {InvalidNameError: "admin_bad_name", AccountExistsError: "admin_exists", RoleError: "admin_no_role",
          NoSuchAccountError: "admin_no_account"}  # fmt: skip


def _error_key(e: StaffError) -> str:
    return ERRORS.get(type(e), "error_bad_request_text")


async def accounts_page(request: web.Request) -> web.StreamResponse:
    return await _accounts_page(request)


async def _accounts_page(
    request: web.Request, *, shown: tuple[str, str] | None = None, error: str = "", status: int = 200
) -> web.StreamResponse:
    state = request.app[STAFF]

    def load(c):  # type: ignore[no-untyped-def]
        every = accounts.list_accounts(c.mission)
        active = c.sessions.count_active()
        locked = {a.name: c.throttle.locked(c.throttle.account_key(a.name)) > 0 for a in every}
        return every, active, locked

    every, active, locked = await state.db.run(load)
    return render(
        request, "accounts.html", "accounts_title", status=status, accounts=every, active=active, locked=locked,
        roles=ROLES, shown=shown, error=error, me=account_of(request).name, done=request.query.get("done", ""),
    )  # fmt: skip


async def accounts_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    me = account_of(request).name
    fields = await form(request)
    name = fields.get("name", "").strip()
    roles = await form_list(request, "role")
    password = new_one_time_password()
    try:
        check_name(name)
        parse_roles(roles)
        password_hash = await state.pool.hash(password)
        await state.db.run(lambda c: operations.add(c, name, roles, password_hash, actor=me))
    except StaffError as e:
        return await _accounts_page(request, error=_error_key(e), status=400)
    return await _accounts_page(request, shown=(name, password))


async def account_action(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    me = account_of(request).name
    name = request.match_info["name"]
    fields = await form(request)
    action = fields.get("action", "")
    if action not in ACTIONS:
        raise web.HTTPBadRequest(reason="unknown action")
    if name == me and action in ("disable", "reset"):
        return await _accounts_page(request, error="own_account", status=409)
    try:
        if action == "reset":
            password = new_one_time_password()
            password_hash = await state.pool.hash(password)
            await state.db.run(lambda c: operations.reset(c, name, password_hash, actor=me))
            return await _accounts_page(request, shown=(name, password))
        if action == "roles":
            roles = await form_list(request, "role")
            if name == me and "admin" not in roles:
                return await _accounts_page(request, error="own_admin", status=409)
            await state.db.run(lambda c: operations.set_roles(c, name, roles, actor=me, keep=session))
            if name == me:  # a privilege change: this session goes on under a new id
                token, new = await state.db.run(lambda c: c.sessions.advance(session, "full"))
                request[SESSION], request[CSRF] = new, new.csrf
                response = redirect("/staff/admin/accounts?done=roles")
                set_session_cookie(response, token)
                return response
        elif action == "disable":
            await state.db.run(lambda c: operations.disable(c, name, actor=me))
        elif action == "enable":
            await state.db.run(lambda c: operations.enable(c, name, actor=me))
        elif action == "unlock":
            await state.db.run(lambda c: operations.unlock(c, name, actor=me))
        else:
            await state.db.run(lambda c: operations.end_sessions(c, name, actor=me, keep=session))
    except StaffError as e:
        return await _accounts_page(request, error=_error_key(e), status=400)
    return redirect(f"/staff/admin/accounts?done={action}")


async def sessions_end(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    session = session_of(request)
    await state.db.run(lambda c: operations.end_sessions(c, None, actor=session.account, keep=session))
    return redirect("/staff/admin/accounts?done=end_all")


async def audit_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STAFF]
    raw = request.query.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
    entries = await state.db.run(lambda c: page_before(c.mission, before, AUDIT_PAGE))
    older = entries[-1].seq if len(entries) == AUDIT_PAGE and entries[-1].seq > 1 else None
    return render(request, "audit.html", "audit_title", entries=entries, older=older)
