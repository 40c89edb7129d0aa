"""Hostile input against the open contact channels, fuzzed with hypothesis over real HTTP.

Unlike the site-wide fuzz (tests/web/test_bad_input.py, where the inbox has no key), this mission
is open, and each example may carry a real form token and a real proof of work, so the fuzz reaches
the checks behind them: fields with markup, script and every kind of character, forged, replayed
and cut tokens and challenges, forged tracking codes, attachments that lie about what they are or
where they go. Nothing may answer 5xx; no markup sent may come back unescaped; every 201 is a case.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from embassy.contact.codes import display, new_code
from embassy.web.app import create_app
from web.conftest import ServerThread, SiteEnv
from web.contact.contactkit import contact_env, filled, form_of, multipart, urlencoded
from web.staff.staffkit import Client

HOSTILE = st.sampled_from([
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "{{7*7}}", "${jndi:x}",
    "' OR 1=1 --", "\u202eevil", "\ufeff", "𝕏" * 50, "a" * 9000, "\r\n\r\n", "\x00", "\x1b[31m", "%00", "..\\..\\",
])  # fmt: skip
# Every code point a form can carry: UTF-8 has no lone surrogates (a test-side UnicodeEncodeError, not a finding).
ANY_CHAR = st.characters(max_codepoint=0x10FFFF, exclude_categories=("Cs",))
TEXT = st.one_of(HOSTILE, st.text(max_size=60), st.text(alphabet=ANY_CHAR, max_size=20))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2)).save(out, "PNG")
    return out.getvalue()


FILES = st.lists(st.tuples(
    st.sampled_from(["../../etc/passwd", "C:\\x.pdf", "a\u202egnp.exe", "ok.png", "x" * 300, "", "%2e%2e/x"]),
    st.sampled_from([png(), png()[:30], b"%PDF-1.4\n%%EOF", b"MZ" + b"\0" * 50, b"<svg onload=alert(1)>", b""]),
), max_size=4)  # fmt: skip


@pytest.fixture(scope="module")
def open_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteEnv, ServerThread]]:
    env, _ = contact_env(tmp_path_factory.mktemp("fuzz-contact"), "submissions_per_hour = 100000\n"
                         "nojs_per_hour = 100000\nsite_per_minute = 100000\nsite_nojs_per_hour = 100000\n"
                         "lookups_per_minute = 100000\n")  # fmt: skip
    with ServerThread(create_app(env.config, env.ring.serving_keys(), contact_key=b"f" * 32)) as server:
        yield env, server


FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


def _cases(env: SiteEnv) -> int:
    conn = sqlite3.connect(env.config.data_dir / "mission.db")
    try:
        return int(conn.execute("SELECT count(*) FROM contact_case").fetchone()[0])
    finally:
        conn.close()


def _no_raw_markup(body: str) -> None:
    for raw in ("<script>alert(1)", "<img src=x onerror", "<svg onload"):
        assert raw not in body


@FUZZ
@given(
    channel=st.sampled_from(["emergency", "consular", "general", "", "other", "<b>"]),
    token=st.sampled_from(["real", "cut", "other-form", "none", "garbage"]),
    pow_kind=st.sampled_from(["solved", "none", "forged", "replayed"]),
    fields=st.dictionaries(st.sampled_from(["name", "email", "phone", "location", "message", "type", "website"]),
                           TEXT, max_size=7),
    files=FILES,
    as_multipart=st.booleans(),
)
def test_fuzz_submissions_never_give_a_5xx_and_never_echo_markup(
    open_site: tuple[SiteEnv, ServerThread], channel: str, token: str, pow_kind: str, fields: dict[str, str],
    files: list[tuple[str, bytes]], as_multipart: bool,
) -> None:  # fmt: skip
    env, server = open_site
    visitor = Client(server.url, address="198.51.100.99")
    page = visitor.get("/en/contact").text
    form = form_of(page, channel if channel in ("emergency", "consular", "general") else "general")
    body = filled(form, pow_solved=pow_kind in ("solved", "replayed"), **fields)
    body["channel"] = channel
    if token == "cut":
        body["token"] = form.token[:-5]
    elif token == "other-form":
        body["token"] = form_of(page, "emergency").token if channel != "emergency" else form_of(page, "general").token
    elif token == "none":
        body.pop("token")
    elif token == "garbage":
        body["token"] = "f1.²³.<>.%%"
    if pow_kind == "forged":
        body["altcha"] = "eyJjaGFsbGVuZ2UiOnt9fQ=="
    if pow_kind == "replayed":
        body["altcha"] = filled(form_of(visitor.get("/en/contact").text, "general"))["altcha"]
    before = _cases(env)
    raw = multipart(body, files) if as_multipart or files else urlencoded(body)
    r = visitor.request("POST", "/en/contact", raw=raw)
    assert r.status < 500, (r.status, body)
    _no_raw_markup(r.text)
    assert r.header("Cache-Control") == "no-store" or r.status in (400, 403, 413, 415)
    assert _cases(env) == before + (1 if r.status == 201 else 0)


@FUZZ
@given(code=st.one_of(TEXT, st.just(display(new_code())), st.builds(lambda: display(new_code()).lower())),
       action=st.sampled_from(["", "followup", "<x>"]), message=TEXT)
def test_fuzz_tracking_codes_reveal_nothing_and_never_give_a_5xx(
    open_site: tuple[SiteEnv, ServerThread], code: str, action: str, message: str
) -> None:
    _, server = open_site
    r = Client(server.url, address="198.51.100.98").request(
        "POST", "/en/case", raw=urlencoded({"code": code, "action": action, "message": message}))
    assert r.status in (400, 404), r.status  # no case has any of these codes
    _no_raw_markup(r.text)
