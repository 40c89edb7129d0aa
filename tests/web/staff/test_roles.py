"""Every staff route and API endpoint, with each role and with none: the exact status each answers.

The tables below are written out by hand, not derived from the route tables: a new route that
nobody decided on fails the test until it is added here.
"""

from __future__ import annotations

import itertools

import pytest

from embassy.staff import accounts, tokens
from embassy.staff.roles import ROLES
from embassy.web.api.endpoints import ENDPOINTS
from embassy.web.staff.routes import ROUTES
from web.conftest import ServerThread, SiteEnv
from web.staff.staffkit import PASSWORD, Client, cached_hash, close, conns, signed_in

# route name -> (status signed in with the role it needs, status without a session); the form sent is
# empty but for its token, so a view that needs fields answers as it does to an incomplete form.
STAFF = {
    "staff_home": (200, 302),
    "staff_login": (302, 200),
    "staff_login_post": (401, 401),  # a wrong password, whoever asks
    "staff_factor": (302, 302),
    "staff_factor_totp": (302, 302),
    "staff_factor_recovery": (302, 302),
    "staff_factor_passkey_options": (302, 302),
    "staff_factor_passkey": (302, 302),
    "staff_logout": (303, 302),
    "staff_account": (200, 302),
    "staff_password": (200, 302),
    "staff_password_post": (401, 302),  # the current password is missing
    "staff_factors": (302, 302),
    "staff_totp": (200, 302),
    "staff_totp_post": (401, 302),
    "staff_totp_remove": (401, 302),
    "staff_passkey_options": (200, 302),
    "staff_passkey_post": (401, 302),
    "staff_passkey_remove": (401, 302),
    "staff_recovery_codes": (401, 302),
    "staff_sessions": (200, 302),
    "staff_sessions_end": (303, 302),
    "staff_tokens": (200, 302),
    "staff_tokens_post": (400, 302),  # no scope chosen
    "staff_tokens_revoke": (404, 302),
    "staff_admin_accounts": (200, 302),
    "staff_admin_accounts_post": (400, 302),
    "staff_admin_account_action": (400, 302),
    "staff_admin_sessions_end": (303, 302),
    "staff_admin_audit": (200, 302),
    "staff_static": (200, 200),
    "staff_inbox": (200, 302),
    "staff_inbox_access": (200, 302),
    "staff_inbox_access_post": (400, 302),  # no action chosen
    "staff_case": (404, 302),  # no such case
    "staff_case_reply": (404, 302),
    "staff_case_status": (404, 302),
    "staff_case_assign": (404, 302),
    "staff_case_attachment": (403, 302),  # this session holds no inbox key
}
# publishing: route name -> (status with a role that may, the roles that may); the item does not exist
READ, WRITE, PUBLISH, ADMIN = {"admin", "editor", "publisher"}, {"editor", "publisher"}, {"publisher"}, {"admin"}
PUBLISHING = {
    "staff_items": (200, READ), "staff_item_new": (200, WRITE), "staff_item_create": (422, WRITE),
    "staff_item": (404, READ), "staff_item_image": (415, WRITE), "staff_item_remove": (404, ADMIN),
    "staff_translations": (200, READ), "staff_edition_edit": (404, WRITE), "staff_edition_save": (404, WRITE),
    "staff_edition_preview": (404, READ), "staff_edition_new": (404, WRITE), "staff_edition_submit": (404, WRITE),
    "staff_edition_discard": (404, WRITE), "staff_edition_approve": (404, PUBLISH),
    "staff_edition_publish": (404, PUBLISH), "staff_edition_review": (404, PUBLISH),
    "staff_edition_withdraw": (404, PUBLISH),
}  # fmt: skip
STAFF.update({name: (status, 302) for name, (status, _) in PUBLISHING.items()})
INBOX_ONLY = {"staff_inbox", "staff_inbox_access", "staff_inbox_access_post", "staff_case", "staff_case_reply",
              "staff_case_status", "staff_case_assign", "staff_case_attachment"}  # consular and admin
ADMIN_ONLY = {"staff_admin_accounts", "staff_admin_accounts_post", "staff_admin_account_action",
              "staff_admin_sessions_end", "staff_admin_audit"}  # fmt: skip

# endpoint name -> status with a token of each role (admin, editor, publisher, consular), and without one
API = {
    "api_index": ((200, 200, 200, 200), 200),
    "api_openapi": ((200, 200, 200, 200), 200),
    "api_me": ((200, 200, 200, 200), 401),
    "api_staff": ((200, 403, 403, 403), 401),
    "api_audit": ((200, 403, 403, 403), 401),
    "api_replication": ((200, 403, 403, 403), 401),
    "api_items": ((200, 200, 200, 403), 401),
    "api_item_create": ((200, 200, 200, 403), 401),  # a GET of /items: the list
    "api_item": ((404, 404, 404, 403), 401),  # no such item (a role that may not read: 403 first)
    "api_translations": ((200, 200, 200, 403), 401),
    "api_inbox": ((200, 403, 403, 200), 401),
    "api_case": ((404, 403, 403, 404), 401),  # no such case
    "api_case_reply": ((405, 405, 405, 405), 405),  # POST only
    "api_case_status": ((405, 405, 405, 405), 405),
}
# the rest are written to (POST, PUT, DELETE) at a path that has no GET: a GET there is 405 for anyone
API.update({e.name: ((405, 405, 405, 405), 405) for e in ENDPOINTS if e.name not in API})

_names = (f"matrix{i}" for i in itertools.count())


def concrete(path: str) -> str:
    case = "0123456789abcdef"
    path = path.replace("{case}", case).replace("{n}", "1")
    path = path.replace("{id}", case) if path.startswith("/cases/") else path.replace("{id}", "000000000000")
    return path.replace("/static/{name}", "/static/staff.js").replace("{name}", "nobody-here").replace("{lang}", "en")


def test_the_tables_cover_every_route() -> None:
    assert {r.name for r in ROUTES} == set(STAFF)
    assert {e.name for e in ENDPOINTS} == set(API)


@pytest.mark.parametrize("role", [*ROLES, None])
def test_every_staff_route_with_each_role(staff_server: ServerThread, staff_env: SiteEnv, role: str | None) -> None:
    data_dir = staff_env.config.data_dir
    got, wanted = {}, {}
    for route in ROUTES:
        browser = Client(staff_server.url, address=f"10.9.{ROLES.index(role) if role else 9}.{ROUTES.index(route)}")
        name = next(_names)
        if role is not None:  # a fresh account per route: what one route does cannot change the next
            c = conns(data_dir)
            accounts.create(c.mission, name, [role], cached_hash(PASSWORD), actor="test")
            accounts.set_password(c.mission, name, cached_hash(PASSWORD), actor="test")
            accounts.set_totp(c.mission, name, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 0, actor="test")
            close(c)
            signed_in(browser, data_dir, name)
        else:
            browser.get("/staff/login")  # the sign-in form's token, as a browser would have it
        path = "/staff" + concrete(route.path)
        form = {"name": name, "password": "wrong"} if route.name == "staff_login_post" else {}
        r = browser.request(route.method, path, {**form, "csrf": browser.csrf} if route.method == "POST" else None)
        got[route.name] = r.status
        allowed, anonymous = STAFF[route.name]
        forbidden = (
            (route.name in ADMIN_ONLY and role != "admin")
            or (route.name in PUBLISHING and role not in PUBLISHING[route.name][1])
            or (route.name in INBOX_ONLY and role not in ("consular", "admin"))
        )
        wanted[route.name] = anonymous if role is None else (403 if forbidden else allowed)
        if r.status == 302 and role is None and route.name not in ("staff_login",):
            assert r.header("Location") == "/staff/login", route.name
    assert got == wanted


def test_every_api_endpoint_with_each_role(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    data_dir = staff_env.config.data_dir
    bearer = {}
    c = conns(data_dir)
    for role in ROLES:
        name = f"api-{role}"
        accounts.create(c.mission, name, [role], cached_hash(PASSWORD), actor="test")
        bearer[role] = tokens.create(c.mission, name, None, 1, actor="test")[0]
    close(c)
    client = Client(staff_server.url)
    for e in ENDPOINTS:
        with_roles, without = API[e.name]
        got = tuple(client.get("/api/v1" + concrete(e.path), headers={"Authorization": f"Bearer {bearer[r]}"}).status
                    for r in ROLES)  # fmt: skip
        assert (got, client.get("/api/v1" + concrete(e.path)).status) == (with_roles, without), e.name
    assert client.set_cookies == []  # a token never opens a session


# A session part-way through signing in may use its own step's routes only (and sign out, or start
# again); every other route sends it back to where it stands.
PENDING = {
    "factor": {"staff_login": 200, "staff_login_post": 401, "staff_factor": 200, "staff_factor_totp": 401,
               "staff_factor_recovery": 401, "staff_factor_passkey_options": 409, "staff_factor_passkey": 401,
               "staff_logout": 303, "staff_static": 200},
    "password": {"staff_login": 200, "staff_login_post": 401, "staff_password": 200, "staff_password_post": 400,
                 "staff_logout": 303, "staff_static": 200},
    "enrol": {"staff_login": 200, "staff_login_post": 401, "staff_factors": 200, "staff_totp": 200,
              "staff_totp_post": 400, "staff_passkey_options": 200, "staff_passkey_post": 400, "staff_logout": 303,
              "staff_static": 200},
}  # fmt: skip
CONTINUE = {"factor": "/staff/login/factor", "password": "/staff/account/password", "enrol": "/staff/account/factors"}


@pytest.mark.parametrize("stage", list(PENDING))
def test_every_staff_route_part_way_through_signing_in(
    staff_server: ServerThread, staff_env: SiteEnv, stage: str
) -> None:
    data_dir = staff_env.config.data_dir
    got, wanted = {}, {}
    for route in ROUTES:
        name = next(_names)
        c = conns(data_dir)
        accounts.create(c.mission, name, ["admin"], cached_hash(PASSWORD), actor="test")
        if stage == "factor":
            accounts.set_totp(c.mission, name, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 0, actor="test")
        close(c)
        browser = Client(staff_server.url, address=f"10.8.{list(PENDING).index(stage)}.{ROUTES.index(route)}")
        signed_in(browser, data_dir, name, stage)
        form = {"name": name, "password": "wrong"} if route.name == "staff_login_post" else {}
        r = browser.request(route.method, "/staff" + concrete(route.path),
                            {**form, "csrf": browser.csrf} if route.method == "POST" else None)  # fmt: skip
        got[route.name] = (r.status, r.header("Location") if r.status == 302 else None)
        status = PENDING[stage].get(route.name, 302)
        wanted[route.name] = (status, CONTINUE[stage] if status == 302 else None)
    assert got == wanted
