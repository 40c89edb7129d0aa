"""Signing in over real HTTP: the first sign-in, the second factor, failures, throttling, cookies."""

from __future__ import annotations

import re

import pytest

from embassy.audit.log import entries
from embassy.staff import accounts
from embassy.staff.passwords import new_one_time_password
from web.conftest import ServerThread, SiteEnv
from web.staff.staffkit import PASSWORD, Client, cached_hash, close, code_now, conns, make_account, sign_in

CODE_RE = re.compile(r"<li><code>([0-9A-Z-]{29})</code></li>")
SECRET_RE = re.compile(r'name="secret" value="([A-Z2-7]{32})"')


def audit_actions(env: SiteEnv, actor: str) -> list[str]:
    c = conns(env.config.data_dir)
    try:
        return [e.action for e in entries(c.mission, 0) if e.actor == actor]
    finally:
        close(c)


def test_first_sign_in_sets_a_password_and_a_second_factor(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    one_time = new_one_time_password()
    c = conns(staff_env.config.data_dir)
    accounts.create(c.mission, "aigerim", ["editor"], cached_hash(one_time), actor="test")
    close(c)
    browser = Client(staff_server.url)
    page = browser.get("/staff/login")
    assert page.status == 200 and 'autocomplete="current-password"' in page.text
    r = browser.post("/staff/login", {"name": "aigerim", "password": one_time})
    assert (r.status, r.header("Location")) == (303, "/staff/account/password")
    first_id = browser.cookies["__Host-embassy-session"]
    # nothing else is open until a password is chosen
    assert browser.get("/staff/").header("Location") == "/staff/account/password"
    browser.get("/staff/account/password")
    weak = browser.post("/staff/account/password", {"new": "aigerim2026!!", "repeat": "aigerim2026!!"})
    assert weak.status == 400 and "must not contain your name" in weak.text
    weak = browser.post("/staff/account/password", {"new": "password1234", "repeat": "password1234"})
    assert weak.status == 400 and "too easy to guess" in weak.text
    r = browser.post("/staff/account/password", {"new": PASSWORD, "repeat": PASSWORD})
    assert (r.status, r.header("Location")) == (303, "/staff/account/factors")
    second_id = browser.cookies["__Host-embassy-session"]
    assert second_id != first_id  # a new id at each step
    assert browser.get("/staff/tokens").header("Location") == "/staff/account/factors"
    page = browser.get("/staff/account/totp")
    assert page.status == 200 and "<svg" in page.text and "script" not in page.text.split("<svg", 1)[1][:3000]
    secret = SECRET_RE.search(page.text).group(1)  # type: ignore[union-attr]
    wrong = browser.post("/staff/account/totp", {"secret": secret, "code": "000000"})
    assert wrong.status == 400
    secret = SECRET_RE.search(wrong.text).group(1)  # type: ignore[union-attr]  # a fresh one each time
    done = browser.post("/staff/account/totp", {"secret": secret, "code": code_now(secret)})
    assert done.status == 200
    codes = CODE_RE.findall(done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert browser.cookies["__Host-embassy-session"] not in (first_id, second_id)
    home = browser.get("/staff/")
    assert home.status == 200 and "Welcome, aigerim." in home.text
    assert audit_actions(staff_env, "aigerim") == [
        "sign_in.password_ok", "password.changed", "factor.totp_added", "factor.recovery_codes_generated",
        "sign_in.success",
    ]  # fmt: skip


def test_the_session_cookie_is_host_only_secure_http_only_strict(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    secret = make_account(staff_env.config.data_dir, "cookie.test", ["editor"])
    browser = Client(staff_server.url)
    r = sign_in(browser, "cookie.test", secret or "")
    assert (r.status, r.header("Location")) == (303, "/staff/")
    session_cookies = [c for c in browser.set_cookies if c.startswith("__Host-embassy-session=") and "Max-Age=0" not in c]
    assert len(session_cookies) == 2  # after the password, and a new id after the code
    for raw in session_cookies:
        value, *attributes = [a.strip() for a in raw.split(";")]
        assert len(value.split("=", 1)[1]) == 43  # 256 random bits
        assert sorted(attributes) == ["HttpOnly", "Path=/", "SameSite=Strict", "Secure"]
    login_cookie = next(c for c in browser.set_cookies if c.startswith("__Host-embassy-login="))
    assert sorted(a.strip() for a in login_cookie.split(";")[1:]) == ["HttpOnly", "Path=/", "SameSite=Strict", "Secure"]
    assert browser.get("/staff/").header("Cache-Control") == "no-store"


def test_every_failure_looks_the_same(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    make_account(staff_env.config.data_dir, "dana", ["editor"])
    c = conns(staff_env.config.data_dir)
    accounts.create(c.mission, "olga", ["editor"], cached_hash(PASSWORD), actor="test")
    accounts.set_password(c.mission, "olga", cached_hash(PASSWORD), actor="test")
    accounts.set_disabled(c.mission, "olga", True, actor="test")
    close(c)
    answers = []
    for i, (name, password) in enumerate(
        [("nobody", PASSWORD), ("dana", "wrong password here"), ("olga", PASSWORD), ("Dana", PASSWORD)]
    ):
        browser = Client(staff_server.url, address=f"192.0.2.{10 + i}")
        browser.get("/staff/login")
        r = browser.post("/staff/login", {"name": name, "password": password})
        answers.append((r.status, r.text.replace(browser.csrf, "").replace(name, "NAME")))
        assert "__Host-embassy-session" not in browser.cookies
    assert answers[0][0] == 401 and "The name, password or code is not right" in answers[0][1]
    assert all(a == answers[0] for a in answers)
    # the audit log names the known accounts, never a name nobody has (it may be a password)
    c = conns(staff_env.config.data_dir)
    failed = [e for e in entries(c.mission, 0) if e.action == "sign_in.failed"]
    close(c)
    assert [(e.actor, e.detail["reason"]) for e in failed[-4:]] == [
        ("?", "unknown name"), ("dana", "wrong password"), ("olga", "account disabled"), ("?", "unknown name"),
    ]  # fmt: skip
    assert all("Dana" not in str(e.detail) and PASSWORD not in str(e.detail) for e in failed)


@pytest.mark.parametrize("name", ["yerlan", "no-such-person"])
def test_throttling_grows_for_known_and_unknown_names_alike(
    staff_server: ServerThread, staff_env: SiteEnv, name: str
) -> None:
    if name == "yerlan":
        make_account(staff_env.config.data_dir, name, ["editor"])
    statuses = []
    for i in range(5):  # a new address each time: the name's own count is what throttles
        browser = Client(staff_server.url, address=f"198.51.100.{i + (10 if name == 'yerlan' else 50)}")
        browser.get("/staff/login")
        r = browser.post("/staff/login", {"name": name, "password": "not the password"})
        statuses.append(r.status)
    assert statuses == [401, 401, 401, 429, 429]
    assert "Too many attempts" in r.text and int(r.header("Retry-After") or 0) >= 1
    # even the right password waits now
    browser.get("/staff/login")
    assert browser.post("/staff/login", {"name": name, "password": PASSWORD}).status == 429
