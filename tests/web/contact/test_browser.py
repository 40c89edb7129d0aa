"""The contact channels in a real headless Chromium: each channel sent with JavaScript (the page's
script solves the proof of work) and without it, the case followed with its code, an officer's
reply read; screenshots of each page, and axe-core's WCAG 2.2 AA checks."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page

from embassy.contact import custody
from embassy.mission_db import MISSION_DB, connect
from embassy.web.app import create_app
from keys.custody import parse_share
from keys.inbox_keys import RECOVERY_SHARES, RecoverySplit, recovery_key_from_shares
from web.conftest import AXE, ServerThread, SiteEnv
from web.contact.contactkit import contact_env
from web.staff.staffkit import PASSWORD, code_now, make_account

AXE_TAGS = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']"


@pytest.fixture(scope="module")
def mission(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteEnv, ServerThread, str, RecoverySplit]]:
    env, split = contact_env(tmp_path_factory.mktemp("contact-browser"), "submissions_per_hour = 1000\n"
                             "nojs_per_hour = 1000\n", languages=("en", "ru", "kk"))
    secret = make_account(env.config.data_dir, "amina", ["consular"])
    assert secret
    with ServerThread(create_app(env.config, env.ring.serving_keys(), contact_key=b"b" * 32)) as server:
        yield env, server, secret, split


def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.getbasetemp() / "screenshots"
    out.mkdir(exist_ok=True)
    return out


def strict_page(context: BrowserContext, base: str, problems: list[str]) -> Page:
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "status of 4" not in m.text else None)
    page.on("request", lambda r: problems.append(f"foreign {r.url}") if not r.url.startswith(base) else None)
    return page


def send(page: Page, base: str, lang: str, channel: str, fill: dict[str, str], attach: Path | None = None) -> str:
    page.goto(f"{base}/{lang}/contact")
    form = page.locator(f"#form-{channel}")
    if channel == "consular":
        form.locator("select[name=type]").select_option("legalisation")
    for name, value in fill.items():
        form.locator(f"[name={name}]").fill(value)
    if attach is not None:
        form.locator("input[type=file]").set_input_files(str(attach))
    form.locator("button[type=submit]").click()
    page.wait_for_selector("p.code strong")
    return page.locator("p.code strong").inner_text()


def review_flags(env: SiteEnv) -> list[tuple[str, str, int]]:
    conn = sqlite3.connect(env.config.data_dir / MISSION_DB)
    try:
        return sorted((str(c), str(lang), int(r)) for c, lang, r in conn.execute(
            "SELECT channel, lang, review FROM contact_case"))
    finally:
        conn.close()


def test_each_channel_with_and_without_javascript_then_the_case_and_its_reply(
    browser: Browser, mission: tuple[SiteEnv, ServerThread, str, RecoverySplit], tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env, server, secret, split = mission
    out = shots(tmp_path_factory)
    scan = tmp_path / "scan.png"
    Image.new("RGB", (40, 30), "navy").save(scan, "PNG")
    problems: list[str] = []
    base = server.url
    with_js = browser.new_context(viewport={"width": 1100, "height": 900})
    no_js = browser.new_context(viewport={"width": 390, "height": 800}, java_script_enabled=False)
    page = strict_page(with_js, base, problems)
    page.goto(base + "/en/contact")
    page.screenshot(path=str(out / "contact-en-desktop.png"), full_page=True)
    codes = {
        "emergency": send(page, base, "en", "emergency", {"name": "Dana", "phone": "+7 701 555 11 22",
                          "location": "Antalya, Türkiye", "message": "My son was taken to hospital"}),
        "consular": send(page, base, "ru", "consular", {"email": "serik@mail.example",
                         "message": "Нужно легализовать диплом"}, attach=scan),
        "general": send(page, base, "kk", "general", {"email": "aru@mail.example", "message": "Сәлеметсіз бе"}),
    }
    page.screenshot(path=str(out / "contact-sent-kk.png"), full_page=True)
    quiet = strict_page(no_js, base, problems)
    quiet.goto(base + "/en/contact")
    quiet.screenshot(path=str(out / "contact-en-phone-nojs.png"), full_page=True)
    for channel, fill in (("emergency", {"phone": "+7 702 000 11 22", "message": "Lost my passport in Varna"}),
                          ("consular", {"email": "x@mail.example", "message": "A pension certificate"}),
                          ("general", {"email": "y@mail.example", "message": "A question about visas"})):
        assert send(quiet, base, "en", channel, fill)
    # with JavaScript the browser solved the proof of work; without it, accepted and marked for review
    assert review_flags(env) == [("consular", "en", 1), ("consular", "ru", 0), ("emergency", "en", 0),
                                 ("emergency", "en", 1), ("general", "en", 1), ("general", "kk", 0)]

    # An officer opens the inbox (given to her by the custodians) and answers in her browser.
    officer_context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en")
    officer = strict_page(officer_context, base, problems)
    officer.goto(base + "/staff/login")
    officer.fill("#staff-name", "amina")
    officer.fill("#password", PASSWORD)
    officer.click("button[type=submit]")
    officer.fill("#totp-code", code_now(secret))
    officer.click("form[action='/staff/login/totp'] button[type=submit]")
    officer.wait_for_url(base + "/staff/")
    conn = connect(env.config.data_dir / MISSION_DB)  # the custodians give her the inbox
    shares = [parse_share(split.shares[i].text, str(i), RECOVERY_SHARES) for i in (1, 2)]
    custody.recover(conn, recovery_key_from_shares(shares, split.public), "amina", actor="custodians")
    conn.close()
    officer.goto(base + "/staff/inbox")
    officer.screenshot(path=str(out / "staff-inbox.png"), full_page=True)
    rows = officer.locator("#queue tbody tr")
    assert rows.count() == 6 and "ch-emergency" in (rows.nth(0).get_attribute("class") or "")
    officer.locator("#queue tbody tr.ch-consular a").first.click()  # the older of the two
    officer.wait_for_selector(".message-text")
    consular_case = officer.url
    assert "Нужно легализовать диплом" in officer.content()
    assert "serik@mail.example" in officer.content() and "scan.png" in officer.content()
    officer.fill("#reply-body", "Принесите оригинал диплома в понедельник.")
    officer.click("form[action$='/reply'] button[type=submit]")
    officer.wait_for_selector(".note")
    officer.screenshot(path=str(out / "staff-case.png"), full_page=True)
    assert officer.url.startswith(consular_case)

    # The visitor follows the case with the code as written on paper (lower case, spaces).
    page.goto(base + "/ru/case")
    page.fill("#code", codes["consular"].lower().replace("-", " "))
    page.click("form[action='/ru/case'] button[type=submit]")
    page.wait_for_selector(".reply-text")
    assert page.locator(".reply-text").inner_text() == "Принесите оригинал диплома в понедельник."
    assert "Ждём вашего ответа" in page.content()
    page.screenshot(path=str(out / "case-ru-reply.png"), full_page=True)
    page.fill("#followup-message", "Спасибо, приду.")
    page.click("form[action='/ru/case'] button[type=submit]")
    page.wait_for_selector(".note")
    assert "добавлено к обращению" in page.content()
    for context in (with_js, no_js, officer_context):
        context.close()
    assert problems == []


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_contact_and_case_pages_pass_axe(browser: Browser, mission: tuple[SiteEnv, ServerThread, str, RecoverySplit],
                                         lang: str) -> None:
    server = mission[1]
    context = browser.new_context(bypass_csp=True, locale=lang)  # only so that axe itself can be injected
    found = {}
    try:
        page = context.new_page()
        for path in (f"/{lang}/contact", f"/{lang}/case"):
            page.goto(server.url + path)
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(f"axe.run(document, {{runOnly: {{type: 'tag', values: {AXE_TAGS}}}}})")
            bad = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]
            if bad:
                found[path] = bad
    finally:
        context.close()
    assert not found, found



def test_keyboard_only_through_a_form_and_its_errors(browser: Browser,
                                                     mission: tuple[SiteEnv, ServerThread, str, RecoverySplit]) -> None:
    server = mission[1]
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.url + "/en/contact")
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "consular-type":
                break
        else:
            pytest.fail("the consular form was not reachable with Tab")
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        page.keyboard.press("ArrowDown")
        for field, text in (("consular-name", "Aigerim Abenova"), ("consular-email", "not an address")):
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.id") == field
            page.keyboard.type(text)
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "consular-message"
        page.keyboard.type("My passport was stolen in Lima.")
        page.evaluate("document.querySelector('#consular-email').type = 'text'")  # past the browser's own check
        page.locator("#form-consular button[type=submit]").focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#consular-email[aria-invalid=true]")
        assert page.locator("#consular-message").input_value() == "My passport was stolen in Lima."  # kept
        assert page.locator("#consular-email-error").inner_text() == "This does not look right; check it."
    finally:
        context.close()
