"""`embassy mirror` to a real SeaweedFS bucket and a folder, read back as a reader abroad would:
over S3, from a downloaded copy served by `python -m http.server`, in Chromium."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from dev_stores import DevStore
from playwright.sync_api import Browser
from web.conftest import ServerThread, axe_serious, fetch

from embassy.contact.custody import serving_keys_with_inbox
from embassy.mirror.paths import MANIFEST_NAME, rewrite_links
from embassy.mission_db import MISSION_DB, connect
from embassy.web.app import create_app
from mirror.conftest import EMAIL, LANGS, PHONE, MirrorEnv, StaticServer, make_mirror_env

LINK = re.compile(r'\b(?:href|src|action)="([^"]*)"')
MAIN = re.compile(r'<main id="main" class="wrap" tabindex="-1">\n(.*)</main>', re.S)
MIRROR_NOTE = re.compile(r'<div class="note mirror-note" role="note">.*?</div>\n', re.S)


@pytest.fixture(scope="module")
def mirrored(
    tmp_path_factory: pytest.TempPathFactory, seaweed: list[DevStore]
) -> Iterator[tuple[MirrorEnv, ServerThread, dict[str, Any]]]:
    """One mirror of a mission in three languages (read only by the tests below), and its live site."""
    env = make_mirror_env(tmp_path_factory.mktemp("mirror") / "site", seaweed)
    report = env.mirror()
    keys = serving_keys_with_inbox(env.site.ring.serving_keys(), env.site.config.data_dir)
    with ServerThread(create_app(env.site.config, keys)) as live:
        yield env, live, report


def test_the_report_says_what_was_published_to_each_store(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]],
) -> None:
    env, _, report = mirrored
    assert report["ok"] is True
    assert set(report["stores"]) == {"lu", "abroad"}  # both stores have a mirror target
    for name in ("lu", "abroad"):
        s = report["stores"][name]
        assert s["ok"] and s["uploaded"] == report["files"] and s["unchanged"] == 0 and s["deleted"] == 0
        assert s["previous_manifest"] == "none"
    keys = env.objects()
    assert len(keys) == report["files"] + 1  # and the manifest
    for lang in LANGS:
        for name in ("index.html", "news/index.html", "contact.html", "search.html", "pages/visa.html",
                     "news/storm-season-alert.html"):  # fmt: skip
            assert f"{lang}/{name}" in keys
        assert f"feed/{lang}.atom" in keys and f"feed/alerts/{lang}.atom" in keys
    assert {"index.html", ".well-known/embassy-keys.json", "sitemap.xml", "favicon.svg", "static/site.css",
            MANIFEST_NAME} <= set(keys)  # fmt: skip
    conn = connect(env.site.config.data_dir / MISSION_DB)
    try:
        published = {f"statements/{r[0]}.json" for r in conn.execute("SELECT id FROM statement")}
    finally:
        conn.close()
    assert len(published) > 40
    assert {k for k in keys if k.startswith("statements/")} == published  # home's and contact's too
    media = [k for k in keys if k.startswith("media/")]
    assert len(media) >= 2 and all(k.endswith(".jpg") for k in media)  # the photo's variants (src and srcset)
    # the folder target holds the same files, byte for byte
    for key in keys:
        assert (env.folder / key).read_bytes() == env.get(key)[0], key


def test_every_file_matches_the_live_site_with_its_content_type(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]],
) -> None:
    env, live, _ = mirrored
    manifest = json.loads(env.get(MANIFEST_NAME)[0])["mirror"]["files"]
    pages = 0
    for key in env.objects():
        if key in (MANIFEST_NAME, "index.html"):
            continue
        body, ctype = env.get(key)
        url = "/" + key.removesuffix(".html").removesuffix("index")
        url = {"static/site.css": live_css(live)}.get(key, url)
        resp = fetch(live.url, url)
        assert resp.status == 200, (key, url)
        assert ctype == resp.header("Content-Type") == manifest[key]["type"], key
        if key.startswith("media/"):
            assert ctype == "image/jpeg" and body[:3] == b"\xff\xd8\xff"
        if not ctype.startswith("text/html"):
            assert body == resp.body, key  # statements, feeds, keys, images: the very bytes the site serves
            continue
        text = body.decode()
        assert MIRROR_NOTE.search(text), key  # every mirrored page says it is a read-only copy
        if key.endswith(("/contact.html", "/search.html")):
            continue  # their own tests below
        # The page's content is the live page's, its links made relative to where it lies
        mirrored_main = MAIN.search(MIRROR_NOTE.sub("", text, count=1))
        live_main = MAIN.search(rewrite_links(resp.text, key))
        assert mirrored_main and live_main, key
        assert mirrored_main.group(1) == live_main.group(1), key
        assert re.search(r"<title>.*</title>", text).group(0) == re.search(r"<title>.*</title>", resp.text).group(0)  # type: ignore[union-attr]
        pages += 1
    assert pages == 3 * 17  # home, the news list, 5 news items and 10 pages in each language


def live_css(live: ServerThread) -> str:
    m = re.search(r'href="(/static/site\.css\?v=[0-9a-f]+)"', fetch(live.url, "/en/").text)
    assert m
    return m.group(1)


def test_every_link_of_every_page_resolves_within_the_mirror(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]],
) -> None:
    env, _, _ = mirrored
    keys = set(env.objects())
    checked = 0
    for key in keys:
        if not key.endswith(".html"):
            continue
        text = env.get(key)[0].decode()
        links = LINK.findall(text)
        links += [u.strip().split(" ")[0] for s in re.findall(r'srcset="([^"]*)"', text) for u in s.split(",")]
        for link in links:
            if link.startswith(("https://mission.example/", "mailto:", "tel:", "#")):
                continue
            assert not link.startswith("/"), f"{key}: site-absolute link {link!r} is dead on a mirror"
            target = posixpath.normpath(posixpath.join(posixpath.dirname(key), link.split("#")[0]))
            assert target in keys, f"{key}: {link!r} leads to {target!r}, which the mirror does not hold"
            checked += 1
    assert checked > 1000


def test_the_contact_page_says_how_to_reach_the_mission_without_forms(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]],
) -> None:
    env, live, _ = mirrored
    for lang in LANGS:
        text = env.get(f"{lang}/contact.html")[0].decode()
        assert PHONE in text and f'href="tel:{PHONE.replace(" ", "")}"' in text
        assert f'href="mailto:{EMAIL}"' in text
        assert text.count("<form") == 1 and 'class="search"' in text  # only the header's search
        assert "contact.js" not in text and "/case" not in text and "case.html" not in text
    assert "Messages cannot be sent from this copy" in env.get("en/contact.html")[0].decode()
    assert "Из этой копии нельзя отправить" in env.get("ru/contact.html")[0].decode()
    live_page = fetch(live.url, "/en/contact").text  # the live site is unchanged: its own words, the case link
    assert 'id="mirror-heading"' not in live_page and 'href="/en/case"' in live_page


def test_the_search_page_lists_every_page_and_news_item(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]],
) -> None:
    env, live, _ = mirrored
    text = env.get("en/search.html")[0].decode()
    assert "Searching needs the mission&#39;s home site" in text
    for key in env.objects():
        if key.startswith(("en/news/", "en/pages/")) and not key.endswith("index.html"):
            link = posixpath.relpath(key, "en")
            assert f'href="{link}"' in text, key
    # the live search still searches
    assert "Searching needs" not in fetch(live.url, "/en/search?q=visa").text


def test_a_statement_from_the_mirror_verifies_with_the_mirrors_keys(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]], tmp_path: Path
) -> None:
    env, _, _ = mirrored
    keys = tmp_path / "embassy-keys.json"
    keys.write_bytes(env.get(".well-known/embassy-keys.json")[0])
    statement = next(k for k in env.objects() if k.startswith("statements/"))
    doc = tmp_path / "statement.json"
    doc.write_bytes(env.get(statement)[0])
    r = run_cli("statement", "verify", str(doc), "--keys", str(keys), cwd=tmp_path)
    assert r.code == 0, r.err
    assert "authentic statement of Test Virtual Mission" in r.out
    # and the mirror as a whole, from the keys alone (no keyring, no config)
    r = run_cli("mirror", "verify", "--keys", str(keys), str(env.download(tmp_path / "copy")), cwd=tmp_path)
    assert r.code == 0, r.err
    assert "files match the manifest signed by key" in r.out


def test_a_downloaded_copy_serves_from_http_server(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]], tmp_path: Path, static_server: list[StaticServer]
) -> None:
    env, _, _ = mirrored
    server = StaticServer(env.download(tmp_path / "copy"))
    static_server.append(server)
    page = fetch(server.url, "/en/news/storm-season-alert.html")
    assert page.status == 200 and page.header("Content-Type") == "text/html"
    assert "<h1" in page.text
    # follow its first relative link to a page, as a browser would
    link = next(u for u in LINK.findall(page.text) if u.startswith("../pages/"))
    target = posixpath.normpath(posixpath.join("/en/news/", link))
    assert fetch(server.url, target).status == 200
    assert fetch(server.url, "/").status == 200 and "en/index.html" in fetch(server.url, "/").text
    # the search form's GET reaches the static search page, which ignores the query
    assert fetch(server.url, "/en/search.html?q=visa").status == 200


def test_the_mirrored_contact_page_in_chromium(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]],
    browser: Browser,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    static_server: list[StaticServer],
) -> None:
    env, _, _ = mirrored
    server = StaticServer(env.download(tmp_path / "copy"))
    static_server.append(server)
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(server.url) else None)
    try:
        page.goto(server.url + "/en/contact.html")
        assert page.locator("h2#mirror-heading").is_visible()
        reach = page.get_by_role("region", name="Reaching the mission while its site is away")
        assert reach.get_by_role("link", name=PHONE).is_visible()
        assert reach.get_by_role("link", name=EMAIL).is_visible()
        assert page.locator("form.contact-form").count() == 0
        assert (
            page.evaluate("getComputedStyle(document.querySelector('header.site')).backgroundColor")
            == "rgb(11, 58, 94)"
        )
        out = tmp_path_factory.getbasetemp() / "screenshots"
        out.mkdir(exist_ok=True)
        page.screenshot(path=str(out / "mirror-contact.png"), full_page=True)
        # the language switch and the menu work within the copy
        page.get_by_role("navigation", name="Languages").get_by_role("link", name="Русский").click()
        page.wait_for_url(server.url + "/ru/contact.html")
        page.get_by_role("link", name="Новости").first.click()
        page.wait_for_url(server.url + "/ru/news/index.html")
    finally:
        context.close()
    assert not foreign, foreign


def test_verify_from_a_store_against_the_keyring(mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]]) -> None:
    env, _, _ = mirrored
    r = env.cli("mirror", "verify", "--store", "abroad", "--store", "lu", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["ok"] is True and set(doc["mirrors"]) == {"abroad", "lu"}
    assert doc["mirrors"]["abroad"]["problems"] == [] and doc["mirrors"]["abroad"]["checked"] > 100


def test_the_mirrors_pages_pass_axe(
    mirrored: tuple[MirrorEnv, ServerThread, dict[str, Any]], browser: Browser, tmp_path: Path,
    static_server: list[StaticServer],
) -> None:  # fmt: skip
    """No serious or critical WCAG violation on what a mirror adds or changes."""
    env, _, _ = mirrored
    server = StaticServer(env.download(tmp_path / "copy"))
    static_server.append(server)
    context = browser.new_context(bypass_csp=True)  # only so that axe itself can be injected
    pg = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        for path in ("/index.html", "/en/contact.html", "/kk/search.html", "/en/news/waiting-hall.html"):
            pg.goto(server.url + path)
            if bad := axe_serious(pg):
                found[path] = bad
    finally:
        context.close()
    assert not found, found
