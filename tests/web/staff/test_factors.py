"""Second factors over real HTTP: TOTP replay, recovery codes once, re-authentication for changes."""

from __future__ import annotations

import re

from embassy.staff import accounts, recovery
from web.conftest import ServerThread, SiteEnv
from web.staff.staffkit import PASSWORD, Client, close, code_now, code_previous, conns, make_account, sign_in

CODE_RE = re.compile(r"<li><code>([0-9A-Z-]{29})</code></li>")


def test_a_totp_code_works_once(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    secret = make_account(staff_env.config.data_dir, "marat", ["editor"]) or ""
    first = Client(staff_server.url)
    assert sign_in(first, "marat", secret).header("Location") == "/staff/"
    # the same code again, in another browser, within its 30 seconds: refused
    second = Client(staff_server.url)
    r = sign_in(second, "marat", secret)
    assert r.status == 401 and "The name, password or code is not right" in r.text
    # and the step before it, older than the one used, is refused too
    assert second.post("/staff/login/totp", {"code": code_previous(secret)}).status == 401


def test_wrong_codes_end_the_half_signed_in_session(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    secret = make_account(staff_env.config.data_dir, "zhanna", ["editor"]) or ""
    browser = Client(staff_server.url, address="203.0.113.77")
    browser.get("/staff/login")
    browser.post("/staff/login", {"name": "zhanna", "password": PASSWORD})
    browser.get("/staff/login/factor")
    wrong = "000000" if code_now(secret) != "000000" else "111111"
    statuses = [browser.post("/staff/login/totp", {"code": wrong}).status for _ in range(3)]
    assert statuses == [401, 401, 401]
    throttled = browser.post("/staff/login/totp", {"code": wrong})
    assert throttled.status == 429  # the account's failures count across the password and code steps


def test_a_recovery_code_works_once(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    make_account(staff_env.config.data_dir, "nurlan", ["consular"], totp=True)
    codes = recovery.new_codes()
    c = conns(staff_env.config.data_dir)
    accounts.replace_recovery_codes(c.mission, "nurlan", [recovery.code_hash(x) for x in codes], actor="test")
    close(c)

    def with_code(code: str) -> int:
        browser = Client(staff_server.url)
        browser.get("/staff/login")
        assert browser.post("/staff/login", {"name": "nurlan", "password": PASSWORD}).status == 303
        browser.get("/staff/login/factor")
        return browser.post("/staff/login/recovery", {"code": code}).status

    typed = codes[3].lower().replace("-", " ")  # case, spaces and hyphens do not matter
    assert with_code(typed) == 303
    assert with_code(codes[3]) == 401
    c = conns(staff_env.config.data_dir)
    assert accounts.get(c.mission, "nurlan").recovery_codes_left == 9
    close(c)


def test_changing_credentials_asks_for_the_current_password(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    secret = make_account(staff_env.config.data_dir, "asel", ["publisher"]) or ""
    other = Client(staff_server.url)
    sign_in(other, "asel", secret)
    browser = Client(staff_server.url)
    browser.get("/staff/login")
    browser.post("/staff/login", {"name": "asel", "password": PASSWORD})
    browser.get("/staff/login/factor")
    # the other browser used this step's code: wait for none, use a recovery code instead
    codes = recovery.new_codes()
    c = conns(staff_env.config.data_dir)
    accounts.replace_recovery_codes(c.mission, "asel", [recovery.code_hash(x) for x in codes], actor="test")
    close(c)
    assert browser.post("/staff/login/recovery", {"code": codes[0]}).status == 303
    browser.get("/staff/account/password")
    new = "seven copper kettles sing at dawn"
    wrong = browser.post("/staff/account/password", {"password": "not it", "new": new, "repeat": new})
    assert wrong.status == 401 and "The current password is not right" in wrong.text
    assert other.get("/staff/").status == 200
    ok = browser.post("/staff/account/password", {"password": PASSWORD, "new": new, "repeat": new})
    assert (ok.status, ok.header("Location")) == (303, "/staff/account?done=password")
    assert browser.get("/staff/").status == 200
    assert other.get("/staff/").header("Location") == "/staff/login"  # the other session ended
    # new recovery codes need the password too, and are shown once
    browser.get("/staff/account")
    assert browser.post("/staff/account/recovery-codes", {"password": PASSWORD}).status == 401
    page = browser.post("/staff/account/recovery-codes", {"password": new})
    assert page.status == 200 and len(CODE_RE.findall(page.text)) == 10
    # the only factor cannot be removed
    browser.get("/staff/account")
    last = browser.post("/staff/account/totp/remove", {"password": new})
    assert last.status == 409 and "only second factor" in last.text
