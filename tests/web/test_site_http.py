"""The public site over real TCP: every route's status, headers and bytes."""

import gzip
import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest

from embassy.content.errors import StatementError
from embassy.content.public_keys import trusted_keys
from embassy.content.statements import verify_document
from embassy.publishing.fields import Draft
from embassy.web.app import create_app
from web.conftest import METRICS_TOKEN, PUBLIC_URL, ServerThread, SiteEnv, fetch, make_site_env

CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

# (method, path, expected status) for every route of the site.
ROUTES = [
    ("GET", "/", 302),
    ("GET", "/en", 301),
    ("GET", "/en/", 200),
    ("GET", "/kk/news", 301),
    ("GET", "/kk/news/", 200),
    ("GET", "/ru/news/mobile-consular-team-december", 200),
    ("GET", "/en/pages/visa", 200),
    ("GET", "/en/pages/contact", 301),
    ("GET", "/en/contact", 200),
    ("POST", "/en/contact", 503),
    ("GET", "/en/case", 200),
    ("POST", "/en/case", 400),
    ("GET", "/en/search?q=visa", 200),
    ("GET", "/feed/en.atom", 200),
    ("GET", "/feed/alerts/ru.atom", 200),
    ("GET", "/sitemap.xml", 200),
    ("GET", "/robots.txt", 200),
    ("GET", "/.well-known/embassy-keys.json", 200),
    ("GET", "/healthz", 200),
    ("GET", "/metrics", 200),
    ("GET", "/staff", 301),
    ("GET", "/staff/", 302),
    ("GET", "/staff/login", 200),
    ("POST", "/staff/login", 403),
    ("GET", "/api/v1", 301),
    ("GET", "/api/v1/", 200),
    ("GET", "/api/v1/openapi.json", 200),
    ("GET", "/api/v1/nothing", 404),
    ("GET", "/favicon.svg", 200),
    ("GET", "/static/site.css", 200),
    ("GET", "/xx/", 404),
    ("GET", "/en/pages/no-such-page", 404),
    ("GET", "/statements/0000000000000000.json", 404),
    ("DELETE", "/en/", 405),
]


@pytest.mark.parametrize(("method", "path", "status"), ROUTES)
def test_every_route_answers_with_the_security_headers(
    server: ServerThread, method: str, path: str, status: int
) -> None:
    body = b"name=x&message=y" if method == "POST" else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    r = fetch(server.url, path, method, headers, body)
    assert r.status == status, r.body[:300]
    assert r.header("Content-Security-Policy") == CSP
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("Referrer-Policy") == "no-referrer"
    assert r.header("Server") == "embassy"  # never the framework or Python
    if path.startswith("/staff/") and r.header("Set-Cookie"):  # the sign-in form's CSRF token only
        assert r.header("Set-Cookie").startswith("__Host-embassy-login=")
    else:
        assert r.header("Set-Cookie") is None
    assert r.header("Strict-Transport-Security") is None  # plain HTTP, no proxy vouching for TLS


def test_hsts_only_when_a_trusted_proxy_says_tls(server: ServerThread, site_env: SiteEnv) -> None:
    r = fetch(server.url, "/en/", headers={"X-Forwarded-Proto": "https"})
    assert r.header("Strict-Transport-Security") == "max-age=63072000; includeSubDomains"
    # A server that does not trust the loopback ignores the same header.
    other = make_site_env(site_env.root / "untrusting", server='trusted_proxies = ["10.0.0.0/8"]\n')
    with ServerThread(create_app(other.config, other.ring.serving_keys())) as s2:
        r2 = fetch(s2.url, "/en/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
        assert r2.status == 200
        assert r2.header("Strict-Transport-Security") is None
        # ... and X-Forwarded-For from an untrusted peer is ignored: the client is the loopback.
        assert fetch(s2.url, "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status == 200


@pytest.mark.parametrize(
    ("accept", "lang"),
    [("ru-RU,ru;q=0.9,en;q=0.8", "ru"), ("en-GB,en;q=0.9", "en"), ("de-DE, fr;q=0.5", "kk"), ("", "kk"),
     ("de;q=0.9, fa;q=0.8, en;q=0.7", "fa"), ("en;q=0.1, kk;q=0.5", "kk"), ("garbage;;q=x,,", "kk")],
)  # fmt: skip
def test_root_redirects_by_accept_language(server: ServerThread, accept: str, lang: str) -> None:
    r = fetch(server.url, "/", headers={"Accept-Language": accept} if accept else {})
    assert r.status == 302
    assert r.header("Location") == f"/{lang}/"
    assert "Accept-Language" in (r.header("Vary") or "")


def test_home_page_in_each_language(server: ServerThread) -> None:
    titles = {"kk": "Виртуалды өкілдікке қош келдіңіз", "ru": "Добро пожаловать в виртуальное представительство",
              "en": "Welcome to the virtual mission", "fa": "به نمایندگی مجازی خوش آمدید"}  # fmt: skip
    for lang, title in titles.items():
        html = fetch(server.url, f"/{lang}/").text
        assert f'<html lang="{lang}" dir="{"rtl" if lang == "fa" else "ltr"}">' in html
        assert f"<h1>{title}</h1>" in html
        assert 'class="skip" href="#main"' in html
        for other in ("kk", "ru", "en", "fa"):  # the language switcher, and hreflang alternates
            assert f'href="/{other}/" hreflang="{other}"' in html
            assert f'<link rel="alternate" hreflang="{other}" href="{PUBLIC_URL}/{other}/">' in html
        assert f'<meta property="og:url" content="{PUBLIC_URL}/{lang}/">' in html
        assert "<script" not in html


def test_missing_translation_falls_back_with_a_note(server: ServerThread) -> None:
    r = fetch(server.url, "/fa/pages/visa")
    assert r.status == 200
    html = r.text
    assert '<html lang="fa" dir="rtl">' in html
    assert 'role="note"' in html
    assert "این صفحه هنوز به زبان فارسی در دسترس نیست و به زبان Қазақша نمایش داده می‌شود." in html
    assert '<article lang="kk" dir="ltr">' in html
    assert "<h1>Шетел азаматтарына арналған визалар</h1>" in html
    # hreflang alternates only for the languages the page exists in
    for lang in ("kk", "ru", "en"):
        assert f'<link rel="alternate" hreflang="{lang}" href="{PUBLIC_URL}/{lang}/pages/visa">' in html
    assert 'hreflang="fa" href="https://' not in html
    # and a page that exists in Persian carries no note
    assert 'role="note"' not in fetch(server.url, "/fa/pages/about").text


def test_not_found_pages_speak_the_right_language(server: ServerThread) -> None:
    bad_lang = fetch(server.url, "/xx/pages/visa")
    assert bad_lang.status == 404
    assert '<html lang="kk"' in bad_lang.text and "Бет табылмады" in bad_lang.text
    missing = fetch(server.url, "/ru/news/no-such-news")
    assert missing.status == 404
    assert '<html lang="ru"' in missing.text and "Страница не найдена" in missing.text
    assert missing.header("Cache-Control") == "no-store"
    api = fetch(server.url, "/api/v1/nothing")
    assert api.header("Content-Type").startswith("application/json")
    assert json.loads(api.body) == {"error": "no such endpoint"}


def test_hostile_requests_are_refused_plainly(server: ServerThread) -> None:
    assert fetch(server.url, "/en/news/" + "a" * 4000).status == 404
    assert fetch(server.url, "/en/news/%00%2e%2e").status == 404
    traversal = fetch(server.url, "/static/..%2f..%2fkeyring")
    assert traversal.status == 404 and b"embassy-keyring" not in traversal.body
    assert fetch(server.url, "/en/news/?page=0").status == 404
    assert fetch(server.url, "/en/news/?page=99999999999").status == 404
    big = fetch(
        server.url, "/en/contact", "POST", {"Content-Type": "application/x-www-form-urlencoded"}, b"m=" + b"x" * 200_000
    )
    assert big.status == 413
    assert '<html lang="en"' in big.text
    # FTS5 syntax typed into search is taken as words, never as a query language
    for q in ['"', "NEAR(visa", "visa*", "a AND OR NOT", "%22)%20OR%201=1--", "ü" * 300]:
        r = fetch(server.url, f"/en/search?q={quote(q)}")
        assert r.status == 200, q


def test_conditional_requests_and_gzip(server: ServerThread) -> None:
    path = "/en/news/remote-notarial-acts"
    plain = fetch(server.url, path)
    etag, modified = plain.header("ETag"), plain.header("Last-Modified")
    assert etag and re.fullmatch(r'"[0-9a-f]{24}"', etag)
    age = datetime.now(UTC) - parsedate_to_datetime(modified)
    assert timedelta(0) <= age < timedelta(days=60)
    assert "Accept-Encoding" in plain.header("Vary")
    assert fetch(server.url, path, headers={"If-None-Match": etag}).status == 304
    assert fetch(server.url, path, headers={"If-Modified-Since": modified}).status == 304
    assert fetch(server.url, path, headers={"If-None-Match": '"other"'}).status == 200
    zipped = fetch(server.url, path, headers={"Accept-Encoding": "gzip, br"})
    assert zipped.header("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    assert fetch(server.url, path, headers={"If-None-Match": zipped.header("ETag")}).status == 304
    head = fetch(server.url, path, "HEAD")
    assert head.status == 200 and head.body == b""


def test_news_page_weighs_at_most_30_kb_compressed(server: ServerThread) -> None:
    gz = {"Accept-Encoding": "gzip"}
    page = fetch(server.url, "/ru/news/mobile-consular-team-december", headers=gz)
    css_url = re.search(r'<link rel="stylesheet" href="([^"]+)">', gzip.decompress(page.body).decode()).group(1)
    css = fetch(server.url, css_url, headers=gz)
    assert css.header("Cache-Control") == "public, max-age=31536000, immutable"
    total = len(page.body) + len(css.body)
    assert total <= 30 * 1024, total
    html = gzip.decompress(page.body).decode()
    # no third-party requests: every src/href is ours (relative) or a link to us
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "#", PUBLIC_URL, "mailto:", "tel:")), url


def test_content_changes_are_seen_at_once_by_every_server(server: ServerThread, site_env: SiteEnv) -> None:
    """Two servers (as two workers) on one database: a publish through a third writer shows up
    on the very next request of each, though both had the old page cached."""
    with ServerThread(create_app(site_env.config, site_env.ring.serving_keys())) as second:
        for s in (server, second):
            for _ in range(2):
                assert "Embassy garden open day" not in fetch(s.url, "/en/news/").text
        site_env.publish("news", "en", Draft("Embassy garden open day", "Come and see the garden.", "Saturday."),
                         slug="garden-open-day")
        for s in (server, second):
            html = fetch(s.url, "/en/news/").text
            assert "Embassy garden open day" in html
            # not translated into Kazakh: listed in English, marked as such
            kk = fetch(s.url, "/kk/news/garden-open-day").text
            assert "Бұл бет әзірге мына тілде жоқ: Қазақша. Ол мына тілде көрсетілген: English." in kk


def test_statements_are_signed_and_verifiable(server: ServerThread, site_env: SiteEnv, tmp_path) -> None:
    from conftest import run_cli

    html = fetch(server.url, "/en/news/storm-season-alert").text
    sid = re.search(r'href="/statements/([0-9a-f]{16})\.json"', html).group(1)
    r = fetch(server.url, f"/statements/{sid}.json")
    assert r.status == 200 and r.header("Content-Type").startswith("application/json")
    doc = json.loads(r.body)
    keys_doc = json.loads(fetch(server.url, "/.well-known/embassy-keys.json").body)
    statement_key = site_env.ring.statement
    assert statement_key is not None and statement_key.id != site_env.ring.signing.id
    assert keys_doc["statement_key_id"] == statement_key.id == doc["signature"]["key_id"]
    assert [k["id"] for k in keys_doc["signing_keys"]] == [statement_key.id]  # never the snapshot key
    assert keys_doc["signing_keys"][0]["valid_until"] is None
    assert keys_doc["inbox_keys"] == []  # this mission has no inbox key yet (embassy inbox init)
    assert "wrapped_private" not in r.text and "private" not in json.dumps(keys_doc)

    public = trusted_keys(keys_doc)  # checks the document's own signature too
    statement = verify_document(doc, public)
    assert statement["title"] == "Tropical storm season in the Caribbean"
    assert (
        statement["kind"] == "alert"
        and statement["lang"] == "en"
        and statement["path"] == "/en/news/storm-season-alert"
    )
    tampered = json.loads(r.body)
    tampered["statement"]["title"] = tampered["statement"]["title"].replace("storm", "sturm")
    with pytest.raises(StatementError, match="does not verify"):
        verify_document(tampered, public)
    # the same check from the command line, with the downloaded keys
    (tmp_path / "keys.json").write_bytes(fetch(server.url, "/.well-known/embassy-keys.json").body)
    (tmp_path / "good.json").write_bytes(r.body)
    (tmp_path / "bad.json").write_text(json.dumps(tampered), encoding="utf-8")
    ok = run_cli(
        "statement", "verify", str(tmp_path / "good.json"), "--keys", str(tmp_path / "keys.json"), cwd=tmp_path
    )
    assert ok.code == 0 and "authentic statement" in ok.out
    bad = run_cli(
        "statement", "verify", str(tmp_path / "bad.json"), "--keys", str(tmp_path / "keys.json"), cwd=tmp_path
    )
    assert bad.code == 1 and "NOT AUTHENTIC" in bad.err


def test_search_finds_words_in_one_language(server: ServerThread) -> None:
    ru = fetch(server.url, "/ru/search?q=" + quote("паспорт")).text
    assert "<mark>паспорт</mark>" in ru and 'href="/ru/pages/passports"' in ru
    assert fetch(server.url, "/en/search?q=" + quote("паспорт")).text.count("<mark>") == 0
    kk = fetch(server.url, "/kk/search?q=" + quote("төлқұжат")).text
    assert 'href="/kk/pages/passports"' in kk
    empty = fetch(server.url, "/en/search?q=").text
    assert "Type one or more words" in empty


def test_contact_and_case_pages_keep_nothing(server: ServerThread) -> None:
    from embassy.contact.codes import display, new_code

    contact = fetch(server.url, "/kk/contact").text  # this mission has no inbox key: no form to fill in
    assert 'role="alert"' in contact and "form-emergency" not in contact and "+7 700" not in contact
    posted = fetch(
        server.url, "/en/contact", "POST", {"Content-Type": "application/x-www-form-urlencoded"}, b"name=A&message=help"
    )
    assert posted.status == 503 and "not being accepted yet" in posted.text and posted.header("Retry-After")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    found = fetch(server.url, "/ru/case", "POST", form, b"code=" + display(new_code()).lower().encode())
    assert found.status == 404 and "Обращения с таким кодом нет" in found.text
    assert found.header("Cache-Control") == "no-store"
    bad = fetch(server.url, "/ru/case", "POST", form, b"code=<script>")
    assert bad.status == 400 and "<script>" not in bad.text and 'aria-invalid="true"' in bad.text


def test_atom_feeds_are_valid_atom(server: ServerThread) -> None:
    import xml.etree.ElementTree as ET

    a = "{http://www.w3.org/2005/Atom}"
    rfc3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
    for path, lang, alerts in (
        ("/feed/en.atom", "en", False),
        ("/feed/kk.atom", "kk", False),
        ("/feed/alerts/ru.atom", "ru", True),
    ):
        r = fetch(server.url, path)
        assert r.header("Content-Type") == "application/atom+xml; charset=utf-8"
        root = ET.fromstring(  # noqa: S314 - our own server's XML
            r.body
        )
        assert root.tag == f"{a}feed"
        assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == lang
        for required in ("id", "title", "updated"):
            assert len(root.findall(f"{a}{required}")) == 1, required
        assert rfc3339.match(root.find(f"{a}updated").text)
        assert root.find(f"{a}author/{a}name").text == "Test Virtual Mission"
        self_link = [lk for lk in root.findall(f"{a}link") if lk.get("rel") == "self"]
        assert self_link and self_link[0].get("href") == PUBLIC_URL + path
        entries = root.findall(f"{a}entry")
        assert entries
        ids = set()
        for e in entries:
            for required in ("id", "title", "updated"):
                assert len(e.findall(f"{a}{required}")) == 1, required
            assert rfc3339.match(e.find(f"{a}updated").text) and rfc3339.match(e.find(f"{a}published").text)
            alternates = [lk for lk in e.findall(f"{a}link") if lk.get("rel") == "alternate" and not lk.get("hreflang")]
            assert len(alternates) == 1 and alternates[0].get("href").startswith(f"{PUBLIC_URL}/{lang}/news/")
            assert e.find(f"{a}content").get("type") == "html"
            ids.add(e.find(f"{a}id").text)
            if alerts:
                assert e.find(f"{a}category").get("term") == "alert"
        assert len(ids) == len(entries)
        if alerts:
            assert len(entries) == 1


def test_sitemap_lists_every_translation_with_hreflang(server: ServerThread) -> None:
    import xml.etree.ElementTree as ET

    sm, xh = "{http://www.sitemaps.org/schemas/sitemap/0.9}", "{http://www.w3.org/1999/xhtml}"
    root = ET.fromstring(  # noqa: S314 - our own server's XML
        fetch(server.url, "/sitemap.xml").body
    )
    urls = {u.find(f"{sm}loc").text: u for u in root.findall(f"{sm}url")}
    assert f"{PUBLIC_URL}/fa/pages/about" in urls
    assert f"{PUBLIC_URL}/fa/pages/visa" not in urls  # no Persian visa page: not listed as one
    visa = urls[f"{PUBLIC_URL}/en/pages/visa"]
    alts = {lk.get("hreflang"): lk.get("href") for lk in visa.findall(f"{xh}link")}
    assert alts == {"kk": f"{PUBLIC_URL}/kk/pages/visa", "ru": f"{PUBLIC_URL}/ru/pages/visa",
                    "en": f"{PUBLIC_URL}/en/pages/visa", "x-default": f"{PUBLIC_URL}/kk/pages/visa"}  # fmt: skip
    robots = fetch(server.url, "/robots.txt").text
    assert "Disallow: /staff/" in robots and f"Sitemap: {PUBLIC_URL}/sitemap.xml" in robots


def test_metrics_only_for_loopback_or_token(server: ServerThread) -> None:
    own = fetch(server.url, "/metrics")
    assert own.status == 200 and b"embassy_http_requests_total" in own.body
    assert own.header("Content-Type").startswith("text/plain; version=0.0.4")
    away = {"X-Forwarded-For": "198.51.100.7"}  # the loopback is a trusted proxy here
    assert fetch(server.url, "/metrics", headers=away).status == 403
    assert fetch(server.url, "/metrics", headers={**away, "Authorization": "Bearer wrong"}).status == 403
    ok = fetch(server.url, "/metrics", headers={**away, "Authorization": f"Bearer {METRICS_TOKEN}"})
    assert ok.status == 200 and b'embassy_page_cache_total{result="hit"}' in ok.body
    assert METRICS_TOKEN.encode() not in ok.body


def test_api_describes_itself(server: ServerThread) -> None:
    index = json.loads(fetch(server.url, "/api/v1/").body)
    assert index["openapi"] == "/api/v1/openapi.json"
    doc = json.loads(fetch(server.url, "/api/v1/openapi.json").body)
    assert doc["openapi"] == "3.1.0" and "/" in doc["paths"]
    assert doc["servers"][0]["url"] == f"{PUBLIC_URL}/api/v1"
    staff = fetch(server.url, "/staff/login", headers={"Accept-Language": "ru"})
    assert (
        staff.status == 200 and 'autocomplete="current-password"' in staff.text and "Вход для сотрудников" in staff.text
    )


def test_healthz(server: ServerThread) -> None:
    r = fetch(server.url, "/healthz")
    assert (r.status, r.body, r.header("Cache-Control")) == (200, b"ok\n", "no-store")


def test_pages_render_fast_from_cache(server: ServerThread) -> None:
    fetch(server.url, "/en/pages/about")
    started = time.perf_counter()
    for _ in range(50):
        assert fetch(server.url, "/en/pages/about").status == 200
    assert (time.perf_counter() - started) / 50 < 0.05
