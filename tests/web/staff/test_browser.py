"""The staff area in real Chromium (Debian's, through Playwright), under the site's real CSP.

Served at http://localhost:PORT: a WebAuthn relying party must be a host name, never an IP
address. Passkeys use Chromium's virtual authenticator (the DevTools protocol's WebAuthn domain).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from embassy.config import load_config
from embassy.staff import accounts
from embassy.staff.passwords import new_one_time_password
from embassy.web.app import create_app
from web.conftest import AXE, ServerThread, SiteEnv, make_site_env
from web.staff.staffkit import PASSWORD, cached_hash, close, conns
from web.test_site_serve import free_port

NEW_PASSWORD = "amber gulls over the salt lake"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteEnv, str]]:
    port = free_port()
    env = make_site_env(tmp_path_factory.mktemp("browser"), languages=("en", "ru", "kk"))
    text = env.config_path.read_text()
    env.config_path.write_text(text.replace('"https://mission.example"', f'"http://localhost:{port}"'))
    env.config = load_config(env.config_path)
    with ServerThread(create_app(env.config, env.ring.serving_keys()), port=port):
        yield env, f"http://localhost:{port}"


@pytest.fixture
def context(browser: Browser, local: tuple[SiteEnv, str]) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 850})
    problems: list[str] = []
    base = local[1]
    ctx.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    ctx.on("weberror", lambda e: problems.append(f"page error: {e.error}"))
    ctx.on("request", lambda r: problems.append(f"foreign request {r.url}") if not r.url.startswith(base) else None)
    try:
        yield ctx
    finally:
        ctx.close()
    problems = [p for p in problems if not re.search(r"status of (401|403|409|429)", p)]
    assert not problems, problems


def one_time_account(env: SiteEnv, name: str, roles: list[str]) -> str:
    password = new_one_time_password()
    c = conns(env.config.data_dir)
    accounts.create(c.mission, name, roles, cached_hash(password), actor="test")
    close(c)
    return password


def sign_in_with_password(page: Page, base: str, name: str, password: str) -> None:
    page.goto(base + "/staff/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url(re.compile(r".*/staff/login\?signed_out=1$"))


def choose_password(page: Page) -> None:
    assert page.locator("h1").inner_text() == "Choose your password"
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the password").click()
    page.wait_for_load_state()


def test_first_sign_in_with_totp_then_sign_in_again_and_a_recovery_code_once(
    context: BrowserContext, local: tuple[SiteEnv, str]
) -> None:
    env, base = local
    one_time = one_time_account(env, "totp.user", ["editor", "admin"])
    page = context.new_page()
    sign_in_with_password(page, base, "totp.user", one_time)
    choose_password(page)
    assert page.url == base + "/staff/account/factors"
    page.get_by_role("link", name="Set up an authenticator app").click()
    assert page.locator("figure.qr svg").is_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    # enrol with the previous step's code, which the server also accepts, so that the current
    # step's code is still unused for the sign-in below
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).at(time.time() - 30))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Your recovery codes"
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have kept them: continue").click()
    assert page.locator("h1").inner_text() == "Staff area"
    sign_out(page)
    assert "You are signed out." in page.locator("main").inner_text()

    sign_in_with_password(page, base, "totp.user", NEW_PASSWORD)
    assert page.locator("h1").inner_text() == "Confirm it is you"
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").first.click()
    page.wait_for_url(base + "/staff/")
    assert "Signed in as totp.user" in page.locator("header").inner_text()
    cookie = next(c for c in context.cookies() if c["name"] == "__Host-embassy-session")
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, True, "Strict", "/")
    assert page.evaluate("document.cookie") == ""  # invisible to scripts
    sign_out(page)

    for attempt in range(2):  # a recovery code works once
        sign_in_with_password(page, base, "totp.user", NEW_PASSWORD)
        page.get_by_text("Use a recovery code").click()
        page.get_by_label("Recovery code").fill(codes[4])
        page.locator("form[action='/staff/login/recovery'] button").click()
        page.wait_for_load_state()
        if attempt == 0:
            assert page.url == base + "/staff/"
            sign_out(page)
        else:
            assert "The name, password or code is not right" in page.get_by_role("alert").inner_text()


def test_first_sign_in_enrols_a_passkey_and_signs_in_with_it(context: BrowserContext, local: tuple[SiteEnv, str]) -> None:
    env, base = local
    one_time = one_time_account(env, "passkey.user", ["publisher"])
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True,
    }})["authenticatorId"]  # fmt: skip
    sign_in_with_password(page, base, "passkey.user", one_time)
    choose_password(page)
    page.get_by_label("Name for this passkey").fill("virtual key")
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url(base + "/staff/account/passkeys")
    assert page.locator("h1").inner_text() == "Your recovery codes"
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(stored) == 1 and stored[0]["rpId"] == "localhost"
    page.get_by_role("link", name="I have kept them: continue").click()
    sign_out(page)

    sign_in_with_password(page, base, "passkey.user", NEW_PASSWORD)
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(base + "/staff/")
    assert "Signed in as passkey.user" in page.locator("header").inner_text()
    used = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert used[0]["signCount"] > stored[0]["signCount"]
    c = conns(env.config.data_dir)
    account = accounts.get(c.mission, "passkey.user")
    close(c)
    assert (account.factors, account.last_sign_in is not None) == (["passkey"], True)


STAFF_PAGES = ["/staff/", "/staff/account", "/staff/account/password", "/staff/account/totp", "/staff/sessions",
               "/staff/tokens", "/staff/admin/accounts", "/staff/admin/audit"]  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_staff_pages_pass_axe_in_each_language(browser: Browser, local: tuple[SiteEnv, str], lang: str) -> None:
    env, base = local
    name = f"axe.{lang}"
    c = conns(env.config.data_dir)
    accounts.create(c.mission, name, ["admin"], cached_hash(PASSWORD), actor="test")
    accounts.set_password(c.mission, name, cached_hash(PASSWORD), actor="test")
    accounts.set_totp(c.mission, name, pyotp.random_base32(32), 0, actor="test")
    token, _ = c.sessions.create(name, "full", "127.0.0.1", "axe")
    halfway, _ = c.sessions.create(name, "factor", "127.0.0.1", "axe")  # for the second-step page
    close(c)
    context = browser.new_context(bypass_csp=True, locale=lang)  # only so that axe itself can be injected
    host = base.removeprefix("http://").split(":")[0]
    context.add_cookies([{"name": "__Host-embassy-session", "value": token, "domain": host, "path": "/",
                          "secure": True, "httpOnly": True, "sameSite": "Strict"}])  # fmt: skip
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        for path in ["/staff/login", "/staff/login/factor", *STAFF_PAGES]:
            if path.startswith("/staff/login"):
                anonymous = browser.new_context(bypass_csp=True, locale=lang)
                if path.endswith("factor"):
                    anonymous.add_cookies([{"name": "__Host-embassy-session", "value": halfway, "domain": host,
                                            "path": "/", "secure": True, "httpOnly": True, "sameSite": "Strict"}])
                target = anonymous.new_page()
            else:
                anonymous, target = None, page
            target.goto(base + path, wait_until="load")
            assert target.url == base + path and target.locator("html").get_attribute("lang") == lang
            target.add_script_tag(path=str(AXE))
            result = target.evaluate("axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', "
                                     "'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})")  # fmt: skip
            bad = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip
            if bad:
                found[path] = bad
            if anonymous is not None:
                anonymous.close()
    finally:
        context.close()
    assert not found, found
