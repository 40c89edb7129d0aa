"""The editorial workflow end to end in real Chromium with JavaScript off: an editor signs in, drafts
an item in two languages with an image and submits it; a publisher (another person, another
browser) approves and publishes it; the public page, feed, sitemap and search show it; its statement
verifies as an outsider checks it; a major update shows in the history and the feed; a withdrawal
shows its banner. Then the content pages pass axe in kk, ru and en."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from conftest import run_cli
from playwright.sync_api import Browser, BrowserContext, Page

from embassy.config import load_config
from embassy.staff import accounts
from embassy.web.app import create_app
from web.conftest import AXE, ServerThread, SiteEnv, fetch, make_site_env
from web.publishing.test_api_flow import jpeg_with_location
from web.staff.staffkit import PASSWORD, cached_hash, close, conns
from web.test_site_serve import free_port

AXE_TAGS = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteEnv, str, dict[str, str]]]:
    port = free_port()
    env = make_site_env(tmp_path_factory.mktemp("pubbrowser"), languages=("en", "ru", "kk"))
    env.config_path.write_text(env.config_path.read_text().replace('"https://mission.example"', f'"http://localhost:{port}"'))
    env.config = load_config(env.config_path)
    secrets = {}
    c = conns(env.config.data_dir)
    for name, roles in (("erlan.editor", ["editor"]), ("pauline.publisher", ["publisher", "admin"])):
        accounts.create(c.mission, name, roles, cached_hash(PASSWORD), actor="test")
        accounts.set_password(c.mission, name, cached_hash(PASSWORD), actor="test")
        secrets[name] = pyotp.random_base32(32)
        accounts.set_totp(c.mission, name, secrets[name], 0, actor="test")
    close(c)
    with ServerThread(create_app(env.config, env.ring.serving_keys()), port=port):
        yield env, f"http://localhost:{port}", secrets


def signed_in_page(browser: Browser, base: str, name: str, secret: str, *, js: bool = False) -> tuple[BrowserContext, Page]:
    ctx = browser.new_context(locale="en-GB", java_script_enabled=js, viewport={"width": 1100, "height": 900})
    ctx.on("request", lambda r: None if r.url.startswith(base) else pytest.fail(f"foreign request {r.url}"))
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.goto(base + "/staff/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    assert f"Signed in as {name}" in page.locator("header").inner_text()
    return ctx, page


def edit(page: Page, title: str, summary: str, body: str, note: str = "", then: str = "Save and preview") -> None:
    page.get_by_label("Title").fill(title)
    page.get_by_label("Summary").fill(summary)
    page.get_by_label("Text").fill(body)
    if note:
        page.get_by_label("What changed").fill(note)
        page.get_by_label("Major change").check()
    page.get_by_role("button", name=then, exact=True).click()


def test_an_item_goes_from_two_people_to_the_public(browser: Browser, local: tuple[SiteEnv, str, dict[str, str]],
                                                   tmp_path: Path) -> None:  # fmt: skip
    _env, base, secrets = local
    ed_ctx, ed = signed_in_page(browser, base, "erlan.editor", secrets["erlan.editor"])
    pub_ctx, pub = signed_in_page(browser, base, "pauline.publisher", secrets["pauline.publisher"])
    try:
        ed.get_by_role("link", name="Content", exact=True).first.click()
        ed.get_by_role("link", name="New item").click()
        ed.get_by_label("News").check()
        ed.get_by_label("Language").select_option("en")
        ed.get_by_label("Title").fill("Winter consular hours")
        ed.get_by_label("Summary").fill("The consular section keeps shorter hours from 20 December.")
        ed.get_by_label("Text").fill("From 20 December we answer from 10:00 to 14:00.")
        ed.get_by_role("button", name="Create the draft").click()
        assert "The draft is created." in ed.content()
        item_url = ed.url.split("?")[0]
        photo = tmp_path / "hall.jpg"
        photo.write_bytes(jpeg_with_location(1400, 900))
        ed.get_by_label("Image file").set_input_files(str(photo))
        ed.get_by_role("button", name="Upload").click()
        snippet = ed.locator("ul.images code").first.inner_text()
        image_id = re.search(r"image:([0-9a-f]{16})", snippet).group(1)
        ed.get_by_role("link", name="Edit (English)").click()
        edit(ed, "Winter consular hours", "Shorter hours from 20 December.",
             f"From 20 December we answer from 10:00 to 14:00.\n\n![The waiting hall of the consulate](image:{image_id})")
        # the preview is the public page of the draft, marked as a preview
        assert "this is how the public page will look" in ed.locator(".preview-note").inner_text()
        assert ed.locator("article h1").inner_text() == "Winter consular hours"
        assert ed.locator("article img").get_attribute("alt") == "The waiting hall of the consulate"
        ed.get_by_role("link", name="Back to the item").click()
        ed.get_by_role("button", name="Submit for review (English)").click()
        ed.get_by_role("button", name="Start the translation from English (Русский)").click()
        edit(ed, "Зимние часы приёма", "С 20 декабря короче.",
             f"С 20 декабря мы отвечаем с 10:00 до 14:00.\n\n![Зал ожидания консульства](image:{image_id})", then="Save")
        ed.goto(item_url)
        ed.get_by_role("button", name="Submit for review (Русский)").click()
        assert ed.get_by_role("button", name="Approve (English)").count() == 0  # editors never approve

        pub.goto(base + "/staff/items")
        assert pub.locator("#waiting").get_by_role("link", name="Winter consular hours").count() == 1
        pub.locator("#waiting").get_by_role("link", name="Winter consular hours").click()
        for lang in ("English", "Русский"):
            pub.get_by_role("button", name=f"Approve ({lang})").click()
            pub.get_by_role("button", name=f"Publish now ({lang})").click()
            assert "Published." in pub.content()

        # the public sees it at once, everywhere
        site = ed_ctx.new_page()
        site.goto(base + "/en/news/winter-consular-hours")
        assert site.locator("h1").inner_text() == "Winter consular hours"
        img = site.locator("article img")
        assert img.get_attribute("alt") == "The waiting hall of the consulate"
        assert (img.get_attribute("src") or "").startswith("/media/")
        assert fetch(base.replace("localhost", "127.0.0.1"), img.get_attribute("src")).status == 200
        site.goto(base + "/ru/news/winter-consular-hours")
        assert site.locator("article img").get_attribute("alt") == "Зал ожидания консульства"
        http = base.replace("localhost", "127.0.0.1")
        assert "Winter consular hours" in fetch(http, "/feed/en.atom").text
        assert "/ru/news/winter-consular-hours" in fetch(http, "/sitemap.xml").text
        assert "Winter consular hours" in fetch(http, "/en/search?q=winter+hours").text
        site.goto(base + "/en/news/winter-consular-hours")
        href = site.get_by_role("link", name=re.compile(r"^Signed statement [0-9a-f]{16}$")).get_attribute("href")
        (tmp_path / "statement.json").write_bytes(site.request.get(base + str(href)).body())
        (tmp_path / "keys.json").write_bytes(fetch(http, "/.well-known/embassy-keys.json").body)
        checked = run_cli("statement", "verify", str(tmp_path / "statement.json"), "--keys", str(tmp_path / "keys.json"),
                          cwd=tmp_path)  # fmt: skip
        assert checked.code == 0 and "'Winter consular hours' (en" in checked.out, checked.err

        # a major update by the editor, approved and published by the publisher: history and feed
        ed.goto(item_url)
        ed.get_by_role("button", name="Start a new edition (English)").click()
        edit(ed, "Winter consular hours extended", "Shorter hours until 15 January.",
             f"Until 15 January we answer from 10:00 to 14:00.\n\n![The waiting hall of the consulate](image:{image_id})",
             note="The shorter hours now last until 15 January.", then="Save")
        ed.goto(item_url)
        ed.get_by_role("button", name="Submit for review (English)").click()
        pub.goto(item_url)
        pub.get_by_role("button", name="Approve (English)").click()
        pub.get_by_role("button", name="Publish now (English)").click()
        assert "Published." in pub.content()
        site.reload()  # the browser kept the page (max-age=60): ask again
        history = site.locator("section.history").inner_text()
        assert "The shorter hours now last until 15 January." in history and "First published." in history
        assert "Updated: The shorter hours now last until 15 January." in fetch(http, "/feed/en.atom").text
        # the translation is now older than the newest major edition
        pub.goto(base + "/staff/translations")
        row = pub.locator("#translations tr", has_text="Winter consular hours extended")
        assert "Older than the newest major edition" in row.inner_text()

        # withdrawn: the page stays, with the banner, the date and the reason
        pub.goto(item_url)
        pub.get_by_text("Withdraw (English)").click()
        english = pub.locator("#lang-en")
        english.get_by_label("Reason for the withdrawal (shown on the page)").fill("The hours were set back to normal.")
        english.get_by_role("button", name="Withdraw", exact=True).click()
        site.reload()
        banner = site.locator(".withdrawn").inner_text()
        assert "Withdrawn" in banner and "The hours were set back to normal." in banner
    finally:
        ed_ctx.close()
        pub_ctx.close()


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_content_pages_pass_axe(browser: Browser, local: tuple[SiteEnv, str, dict[str, str]], lang: str) -> None:
    env, base, _ = local
    name = f"axe.pub.{lang}"
    c = conns(env.config.data_dir)
    accounts.create(c.mission, name, ["editor", "publisher", "admin"], cached_hash(PASSWORD), actor="test")
    accounts.set_password(c.mission, name, cached_hash(PASSWORD), actor="test")
    token, _ = c.sessions.create(name, "full", "127.0.0.1", "axe")
    item = c.mission.execute("SELECT id FROM item WHERE slug = 'storm-season-alert'").fetchone()[0]
    close(c)
    ctx = browser.new_context(bypass_csp=True, locale=lang)  # only so that axe itself can be injected
    ctx.add_cookies([{"name": "__Host-embassy-session", "value": token, "domain": "localhost", "path": "/",
                      "secure": True, "httpOnly": True, "sameSite": "Strict"}])  # fmt: skip
    page = ctx.new_page()
    found = {}
    try:
        page.goto(f"{base}/staff/items/{item}")
        page.locator(f"form[action='/staff/items/{item}/{lang}/new'] button").first.click()  # a draft to edit
        for path in ("/staff/items", "/staff/items/new", f"/staff/items/{item}", f"/staff/items/{item}/{lang}/edit",
                     f"/staff/items/{item}/{lang}/preview", "/staff/translations"):  # fmt: skip
            page.goto(base + path)
            assert page.locator("html").get_attribute("lang") == lang, path
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(f"axe.run(document, {{runOnly: {{type: 'tag', values: {AXE_TAGS}}}}})")
            bad = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip
            if bad:
                found[path] = bad
    finally:
        ctx.close()
    assert not found, found
