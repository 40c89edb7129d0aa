"""The content store: signed statements, safe markup, per-language search, publishing rules."""

from pathlib import Path

import pytest
from nacl.signing import SigningKey

from embassy.content.errors import StatementError
from embassy.content.repo import ContentRepo, fts_query
from embassy.content.statements import DOMAIN, Signer, TrustedKey, sign_statement, statement_id, verify_document
from embassy.content.text import html_to_text, sanitise_html
from embassy.mission_db import connect
from embassy.publishing.fields import Draft
from embassy.publishing.rules import Actor
from embassy.publishing.workflow import Workflow
from keys.encoding import canonical_json

FIELDS = {
    "mission": "Test Mission", "kind": "news", "lang": "en", "slug": "hello", "path": "/en/news/hello",
    "title": "Hello", "summary": "Sum", "body_html": "<p>Body</p>", "published": "2026-11-01T10:00:00Z",
}  # fmt: skip


def test_a_statement_verifies_and_any_change_breaks_it() -> None:
    key = SigningKey.generate()
    signed = sign_statement(FIELDS, key, "k1")
    doc = signed.document()
    assert signed.id == statement_id(canonical_json(doc["statement"])) and len(signed.id) == 16
    keys = {"k1": TrustedKey(bytes(key.verify_key))}
    assert verify_document(doc, keys)["title"] == "Hello"
    # the signature covers the domain prefix and the canonical bytes
    key.verify_key.verify(DOMAIN + signed.payload, signed.signature)
    for field, value in (("title", "Hellp"), ("published", "2026-11-01T10:00:01Z"), ("extra", "x")):
        forged = signed.document()
        forged["statement"][field] = value
        with pytest.raises(StatementError, match="does not verify"):
            verify_document(forged, keys)
    flipped = signed.document()
    sig = bytearray(signed.signature)
    sig[0] ^= 1
    import base64

    flipped["signature"]["value"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(StatementError, match="does not verify"):
        verify_document(flipped, keys)
    with pytest.raises(StatementError, match="not among the mission's public keys"):
        verify_document(doc, {"other": TrustedKey(bytes(key.verify_key))})
    with pytest.raises(StatementError, match="not a statement document"):
        verify_document([1, 2], keys)
    with pytest.raises(StatementError, match="float"):
        sign_statement({**FIELDS, "score": 1.5}, key, "k1")


def test_a_retired_key_verifies_what_it_signed_before_its_retirement_only() -> None:
    key = SigningKey.generate()
    retired = {"k1": TrustedKey(bytes(key.verify_key), valid_until="2026-11-15T00:00:00Z")}
    before = sign_statement(FIELDS, key, "k1").document()  # published 2026-11-01
    assert verify_document(before, retired)["title"] == "Hello"
    after = sign_statement({**FIELDS, "published": "2026-11-15T00:00:01Z"}, key, "k1").document()
    with pytest.raises(
        StatementError,
        match=r"^signed by key k1, retired at 2026-11-15T00:00:00Z, but claims to be published at "
        r"2026-11-15T00:00:01Z, after that$",
    ):
        verify_document(after, retired)
    assert verify_document(after, {"k1": TrustedKey(bytes(key.verify_key))})["title"] == "Hello"


def test_markup_is_sanitised() -> None:
    dirty = '<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:alert(1)">x</a><img src=x></p>'
    clean = sanitise_html(dirty)
    assert "script" not in clean and "onclick" not in clean and "javascript" not in clean and "<img" not in clean
    assert clean.startswith("<p>Hi ")
    assert sanitise_html('<a href="/en/contact">c</a>') == '<a href="/en/contact" rel="noopener noreferrer">c</a>'
    assert html_to_text("<p>One</p><p>two &amp; three</p>") == "One two & three"


def test_search_queries_are_words_only() -> None:
    assert fts_query('visa "NEAR( x*') == '"visa"* "NEAR"* "x"*'
    assert fts_query("   ") == ""
    assert fts_query(" ".join(["w"] * 50)).count('"w"*') == 8


def test_per_language_search_and_what_is_public(tmp_path: Path) -> None:
    conn = connect(tmp_path / "mission.db")
    repo = ContentRepo(conn)
    flow = Workflow(conn, Signer("Test", SigningKey.generate(), "k1"), ("kk", "ru", "en"))
    writer, publisher = Actor("w", frozenset({"editor"})), Actor("p", frozenset({"publisher"}))

    def publish(item: str | None, lang: str, draft: Draft, kind: str = "page", **kw: object) -> str:
        item = item or flow.create(writer, kind, lang, draft, **kw).id  # type: ignore[arg-type]
        if flow.conn.execute("SELECT 1 FROM edition WHERE item = ? AND lang = ?", (item, lang)).fetchone() is None:
            flow.new_edition(writer, item, lang, draft)
        flow.submit(writer, item, lang)
        flow.approve(publisher, item, lang)
        return item

    visa = publish(None, "en", Draft("Visas", "Who needs one", "Apply online for a visa."), slug="visa")
    flow.publish(publisher, visa, "en")
    publish(visa, "ru", Draft("Визы", "Кому нужна", "Подайте заявление на визу онлайн."))
    flow.publish(publisher, visa, "ru")
    assert [h.slug for h in repo.search("en", "visa")] == ["visa"]
    assert repo.search("ru", "visa") == []
    assert [h.slug for h in repo.search("ru", "виз")] == ["visa"]
    # scheduled for later: nothing of it is public (no statement is signed) until it is published
    later = publish(None, "en", Draft("Later", "s", "b"), kind="news", slug="later")
    assert flow.publish(publisher, later, "en", at="2999-01-01T00:00:00Z").state == "scheduled"
    assert repo.snapshot(1).news_item("later") is None and repo.search("en", "later") == []
    assert conn.execute("SELECT count(*) FROM statement").fetchone()[0] == 2
    now = publish(None, "en", Draft("Now", "s", "b"), kind="alert", slug="now")
    done = flow.publish(publisher, now, "en")
    assert done.statement is not None and repo.statement(done.statement) is not None
    snap = repo.snapshot(2)
    assert [n.slug for n in snap.alerts()] == ["now"] and [n.slug for n in snap.banner_alerts()] == ["now"]
    page = snap.page("visa")
    assert page is not None and page.pick("kk", ("kk", "ru", "en")).lang == "ru"
    conn.close()
