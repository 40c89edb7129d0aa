"""The site in a real headless Chromium (Debian's, driven by playwright): what a visitor sees and does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from web.conftest import AXE, ServerThread, axe_serious

FOCUS_YELLOW = "rgb(255, 221, 0)"


@pytest.fixture
def page(browser: Browser, server: ServerThread) -> Iterator[Page]:
    """A page under the site's real CSP, failing the test on any console error or foreign request."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on(
        "request", lambda r: problems.append(f"foreign request {r.url}") if not r.url.startswith(server.url) else None
    )
    try:
        yield pg
    finally:
        context.close()
    # 404 and 503 pages are expected by some tests; Chromium logs them as console errors
    problems = [p for p in problems if "status of 404" not in p and "status of 503" not in p]
    assert not problems, problems


def test_switching_language_keeps_the_page(page: Page, server: ServerThread) -> None:
    page.goto(server.url + "/en/pages/visa")
    assert page.locator("h1").inner_text() == "Visas for foreign citizens"
    page.get_by_role("navigation", name="Languages").get_by_role("link", name="Русский").click()
    page.wait_for_url(server.url + "/ru/pages/visa")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator("h1").inner_text() == "Визы для иностранных граждан"
    page.get_by_role("navigation", name="Языки").get_by_role("link", name="Қазақша").click()
    page.wait_for_url(server.url + "/kk/pages/visa")
    assert page.locator("h1").inner_text() == "Шетел азаматтарына арналған визалар"
    assert page.get_by_role("link", name="Қазақша").get_attribute("aria-current") == "true"


@pytest.mark.parametrize("lang", ["kk", "ru", "en", "fa"])
def test_full_page_screenshots(
    page: Page, server: ServerThread, lang: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.getbasetemp() / "screenshots"
    out.mkdir(exist_ok=True)
    for width, name in ((1100, "desktop"), (390, "phone")):
        page.set_viewport_size({"width": width, "height": 800})
        for path in (f"/{lang}/", f"/{lang}/news/storm-season-alert", f"/{lang}/contact"):
            page.goto(server.url + path)
            shot = out / f"{lang}-{name}-{path.strip('/').replace('/', '-')}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            # nothing wider than the screen: no sideways scrolling on a phone
            assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"), (
                shot
            )
            # the stylesheet applied under the strict CSP
            assert (
                page.evaluate("getComputedStyle(document.querySelector('header.site')).backgroundColor")
                == "rgb(11, 58, 94)"
            )
    page.set_viewport_size({"width": 1100, "height": 800})
    page.goto(server.url + f"/{lang}/")
    direction = page.evaluate("getComputedStyle(document.body).direction")
    assert direction == ("rtl" if lang == "fa" else "ltr")
    brand = page.locator("a.brand").bounding_box()
    langs = page.locator("nav.langs").bounding_box()
    assert brand and langs
    # right-to-left mirrors the header: the mission's name starts on the right
    assert (brand["x"] > langs["x"]) == (lang == "fa")


def test_keyboard_only_to_the_contact_form(page: Page, server: ServerThread) -> None:
    page.goto(server.url + "/en/")
    page.keyboard.press("Tab")
    first = page.evaluate("[document.activeElement.className, document.activeElement.textContent]")
    assert first == ["skip", "Skip to main content"]
    assert page.evaluate("getComputedStyle(document.activeElement).backgroundColor") == FOCUS_YELLOW
    assert page.locator("a.skip").bounding_box()["y"] >= 0  # the skip link shows itself when focused
    for _ in range(30):
        page.keyboard.press("Tab")
        if (
            page.evaluate("document.activeElement.closest('nav.menu') && document.activeElement.getAttribute('href')")
            == "/en/contact"
        ):
            break
    else:
        pytest.fail("the main menu's Contact link was not reachable with Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).backgroundColor") == FOCUS_YELLOW
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/en/contact")
    # this mission has no inbox key yet: the page says so (the forms: tests/web/contact/test_browser.py)
    assert "Online messages are not being accepted yet" in page.get_by_role("alert").inner_text()


PAGE_TYPES = [
    "/en/", "/kk/news/", "/ru/news/storm-season-alert", "/en/pages/consular", "/kk/pages/visa", "/en/pages/travel-advice",
    "/en/contact", "/ru/case", "/en/search?q=visa", "/en/search?q=zzzz", "/en/no-such-page", "/staff/", "/fa/",
    "/fa/pages/visa",
]  # fmt: skip


def test_accessibility_audit_with_axe(browser: Browser, server: ServerThread) -> None:
    """axe-core (npm) in every page type: no serious or critical violation of WCAG 2.x A/AA."""
    assert AXE.exists(), f"{AXE} is missing: run `make test` (it installs axe-core)"
    context = browser.new_context(bypass_csp=True)  # only so that axe itself can be injected
    pg = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        for path in PAGE_TYPES:
            pg.goto(server.url + path)
            bad = axe_serious(pg)
            if bad:
                found[path] = bad
    finally:
        context.close()
    assert not found, found


def test_print_style_hides_navigation(page: Page, server: ServerThread) -> None:
    page.goto(server.url + "/en/news/remote-notarial-acts")
    page.emulate_media(media="print")
    assert page.locator("nav.menu").is_hidden()
    assert page.locator("form.search").is_hidden()
    assert page.locator("article h1").is_visible()
    pdf_page = page.evaluate("getComputedStyle(document.querySelector('header.site')).backgroundColor")
    assert pdf_page == "rgba(0, 0, 0, 0)"
