"""Sessions and forms over real HTTP: CSRF refusal, the list of sessions, signing out, disabling."""

from __future__ import annotations

import json

from conftest import run_cli

from embassy.staff import tokens
from web.conftest import ServerThread, SiteEnv
from web.staff.staffkit import Client, close, conns, make_account, sign_in, signed_in


def test_forms_need_their_token_and_our_origin(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    make_account(staff_env.config.data_dir, "csrf.target", ["editor"])
    browser = Client(staff_server.url)
    signed_in(browser, staff_env.config.data_dir, "csrf.target")
    browser.get("/staff/tokens")
    form = {"label": "ci", "days": "5", "scope": "editor"}
    refused = [
        browser.post("/staff/tokens", form, csrf=False),
        browser.post("/staff/tokens", {**form, "csrf": "x" * 43}),
        browser.post("/staff/tokens", form, headers={"Origin": "https://evil.example"}),
        browser.post("/staff/tokens", form, headers={"Sec-Fetch-Site": "cross-site"}),
        browser.post("/staff/tokens", form, headers={"Sec-Fetch-Site": "same-site"}),
        browser.post("/staff/tokens", form, headers={"Origin": "null"}),
    ]
    assert [r.status for r in refused] == [403] * 6
    assert "This form has expired or did not come from this site" in refused[0].text
    c = conns(staff_env.config.data_dir)
    assert tokens.list_for(c.mission, "csrf.target") == []  # nothing was done
    close(c)
    ok = [
        browser.post("/staff/tokens", form),  # no Origin, no Sec-Fetch-Site: the token alone decides
        browser.post("/staff/tokens", form, headers={"Sec-Fetch-Site": "same-origin"}),
        browser.post("/staff/tokens", form, headers={"Origin": "https://mission.example"}),
        browser.post("/staff/tokens", form, headers={"Origin": staff_server.url}),
    ]
    assert [r.status for r in ok] == [200] * 4
    assert "emb1_" in ok[0].text
    # the sign-in form is protected the same way, with its own double-submit cookie
    anonymous = Client(staff_server.url)
    assert anonymous.post("/staff/login", {"name": "csrf.target", "password": "x"}, csrf=False).status == 403
    anonymous.get("/staff/login")
    assert anonymous.post("/staff/login", {"name": "csrf.target", "password": "x"}).status == 401


def test_sessions_are_listed_and_can_be_ended(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    secret = make_account(staff_env.config.data_dir, "sergey", ["editor"]) or ""
    laptop = Client(staff_server.url, address="192.0.2.1")
    sign_in(laptop, "sergey", secret)
    phones = []
    for i in range(2):
        phone = Client(staff_server.url, address=f"192.0.2.{2 + i}")
        signed_in(phone, staff_env.config.data_dir, "sergey")
        phones.append(phone)
    page = laptop.get("/staff/sessions")
    assert page.status == 200 and page.text.count("<tr><td>") == 3
    assert "192.0.2.1" in page.text and "(this one)" in page.text
    # end one other session by its public id
    c = conns(staff_env.config.data_dir)
    listed = c.sessions.list_for("sergey")
    close(c)
    target = next(s for s in listed if s.address == "127.0.0.1")
    laptop.post("/staff/sessions/end", {"session": target.public_id})
    still = [p.get("/staff/").status for p in phones]
    assert sorted(still) == [200, 302]
    # sign out everywhere ends every session, this one too
    laptop.get("/staff/sessions")
    out = laptop.post("/staff/logout", {"everywhere": "1"})
    assert (out.status, out.header("Location")) == (303, "/staff/login?signed_out=1")
    assert "__Host-embassy-session" not in laptop.cookies
    assert [p.get("/staff/").status for p in [laptop, *phones]] == [302, 302, 302]


def test_disabling_an_account_ends_its_sessions_and_tokens_at_once(
    staff_server: ServerThread, staff_env: SiteEnv
) -> None:
    make_account(staff_env.config.data_dir, "petrov", ["editor", "admin"])
    browser = Client(staff_server.url)
    signed_in(browser, staff_env.config.data_dir, "petrov")
    made = run_cli("staff", "token", "petrov", "--json", cwd=staff_env.root)
    token = json.loads(made.out)["token"]
    api = Client(staff_server.url)
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status == 200
    assert browser.get("/staff/").status == 200
    disabled = run_cli("staff", "disable", "petrov", "--json", cwd=staff_env.root)
    assert disabled.code == 0, disabled.err
    assert json.loads(disabled.out)["sessions_ended"] == 1
    assert browser.get("/staff/").header("Location") == "/staff/login"
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status == 401
