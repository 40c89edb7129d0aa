"""The workflow's rules on a real SQLite file: states, the two-person rule, roles, translations'
status, scheduling exactly once, and the migration of the old page and news tables."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from embassy import migrations
from embassy.content.db import MIGRATIONS
from embassy.content.repo import ContentRepo
from embassy.content.statements import Signer, TrustedKey, sign_statement, verify_document
from embassy.mission_db import connect
from embassy.publishing import store
from embassy.publishing.errors import InvalidFieldError, NotAllowedError, NotFoundError, StateError
from embassy.publishing.fields import AlertSettings, Draft, slug_from
from embassy.publishing.rules import Actor
from embassy.publishing.workflow import Workflow

KEY = SigningKey.generate()
EDITOR = Actor("ed", frozenset({"editor"}))
PUB = Actor("pub", frozenset({"publisher"}))
PUB2 = Actor("pub2", frozenset({"publisher"}))
ADMIN = Actor("adm", frozenset({"admin"}))
LANGS = ("kk", "ru", "en")


def flow(path: Path) -> Workflow:
    return Workflow(connect(path, check_same_thread=False), Signer("M", KEY, "k1"), LANGS)


def test_states_roles_and_the_two_person_rule(tmp_path: Path) -> None:
    w = flow(tmp_path / "m.db")
    item = w.create(EDITOR, "news", "en", Draft("Title", "s", "b")).id
    with pytest.raises(NotAllowedError, match="create needs the role editor or publisher"):
        w.create(ADMIN, "news", "en", Draft("t", "", ""))
    with pytest.raises(StateError, match="is draft, not submitted"):
        w.approve(PUB, item, "en")
    with pytest.raises(StateError, match="needs another person's approval"):
        w.publish(PUB, item, "en")
    w.submit(EDITOR, item, "en")
    with pytest.raises(NotAllowedError):
        w.approve(EDITOR, item, "en")
    w.approve(PUB, item, "en")
    # an edit after approval needs approval again
    w.edit(EDITOR, item, "en", Draft("Title 2", "s", "b"))
    with pytest.raises(StateError, match="is draft"):
        w.publish(PUB2, item, "en")
    w.submit(EDITOR, item, "en")
    w.approve(PUB, item, "en")
    done = w.publish(PUB2, item, "en")
    assert (done.state, done.path) == ("published", "/en/news/title")
    w.new_edition(EDITOR, item, "en")
    with pytest.raises(StateError, match="already has edition 2 in progress"):
        w.new_edition(EDITOR, item, "en")
    # a publisher's own edition: approved by another, never by themself
    own = w.create(PUB, "page", "en", Draft("Own", "", "x")).id
    w.submit(PUB, own, "en")
    with pytest.raises(NotAllowedError, match="nobody approves their own edition"):
        w.approve(PUB, own, "en")
    with pytest.raises(NotFoundError):
        w.submit(EDITOR, "000000000000", "en")
    with pytest.raises(InvalidFieldError, match="taken by another item"):
        w.create(EDITOR, "news", "en", Draft("x", "", ""), slug="title")
    assert w.create(EDITOR, "news", "en", Draft("Title", "", "")).id != item  # a free slug is chosen: title-2
    assert store.item_by_slug(w.conn, "news", "title-2") is not None


def test_translations_status_follows_major_editions(tmp_path: Path) -> None:
    times = iter(f"2026-12-0{d}T10:00:00Z" for d in range(1, 10))
    now = {"t": next(times)}
    w = Workflow(connect(tmp_path / "m.db"), Signer("M", KEY, "k1"), LANGS, clock=lambda: now["t"])

    def publish(item: str, lang: str, draft: Draft | None = None, source: str | None = None) -> None:
        if store.detail(w.conn, item).working(lang) is None:
            w.new_edition(EDITOR, item, lang, draft, source=source)
        w.submit(EDITOR, item, lang)
        w.approve(PUB, item, lang)
        w.publish(PUB, item, lang)
        now["t"] = next(times)

    item = w.create(EDITOR, "page", "en", Draft("Visas", "", "Apply.")).id
    publish(item, "en")
    publish(item, "ru", source="en")  # started from the English text
    statuses = {t.lang: t.status for t in store.translation_status(store.detail(w.conn, item), LANGS)}
    assert statuses == {"kk": "missing", "ru": "current", "en": "current"}
    ru = store.detail(w.conn, item).public("ru")
    assert ru is not None and (ru.source_lang, ru.source_number, ru.title) == ("en", 1, "Visas")
    publish(item, "en", Draft("Visas", "", "Apply early.", "minor fix", major=False))
    assert store.translation_status(store.detail(w.conn, item), LANGS)[1].status == "current"  # minor: still current
    publish(item, "en", Draft("Visas", "", "Apply online.", "New rules", major=True))
    status = store.translation_status(store.detail(w.conn, item), LANGS)[1]
    assert (status.status, status.source) == ("outdated", "en")
    snap = ContentRepo(w.conn).snapshot(1)
    en = snap.page("visas").translations["en"]  # type: ignore[union-attr]
    assert [h.change_note for h in en.history] == ["New rules", ""] and en.edition == 3


def test_scheduled_editions_publish_once_whatever_the_callers(tmp_path: Path) -> None:
    w = flow(tmp_path / "m.db")
    ids = []
    for i in range(5):
        item = w.create(EDITOR, "news", "en", Draft(f"Later {i}", "", "b")).id
        w.submit(EDITOR, item, "en")
        w.approve(PUB, item, "en")
        assert w.publish(PUB, item, "en", at="2026-01-01T10:00:00+06:00").state == "published"  # past: now
        ids.append(item)
    later = w.create(EDITOR, "news", "en", Draft("Future", "", "b")).id
    w.submit(EDITOR, later, "en")
    w.approve(PUB, later, "en")
    assert w.publish(PUB, later, "en", at="2999-01-01T00:00:00Z").state == "scheduled"
    assert w.next_event("2026-12-01T00:00:00Z") == "2999-01-01T00:00:00Z"
    results: list[int] = []

    def tick() -> None:  # as the scheduler of each of eight workers would, at the same moment
        mine = flow(tmp_path / "m.db")
        results.append(len(mine.publish_due("2999-01-01T00:00:01Z")))
        mine.conn.close()

    threads = [threading.Thread(target=tick) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0] * 7 + [1]
    count = w.conn.execute("SELECT count(*) FROM audit_log WHERE action = 'edition.publish'").fetchone()[0]
    assert count == 6 and store.detail(w.conn, later).public("en").state == "published"  # type: ignore[union-attr]


def test_slugs_from_titles_in_every_script() -> None:
    assert slug_from("Visa rules: 2027!") == "visa-rules-2027"
    assert slug_from("Консульский день в Бишкеке") == "konsulskii-den-v-bishkeke"
    assert slug_from("Қазақстан азаматтарына") == "qazaqstan-azamattaryna"
    assert slug_from("ویزا") == ""


def test_the_old_tables_become_items_with_their_statements(tmp_path: Path) -> None:
    """A mission database from before the workflow: its pages and signed news become published
    editions, and every statement it published stays served and valid."""
    path = tmp_path / "old.db"
    old = migrations.connect(path, (migrations.Feature("content", MIGRATIONS[:2], legacy=True),))
    st = sign_statement({"mission": "M", "kind": "news", "lang": "en", "slug": "old-news", "path": "/en/news/old-news",
                         "title": "Old news", "summary": "s", "body_html": "<p>b</p>",
                         "published": "2026-11-01T09:00:00Z"}, KEY, "k1")  # fmt: skip
    old.executescript(f"""
        INSERT INTO page VALUES ('about', 'about', 10, NULL);
        INSERT INTO page_text VALUES ('about', 'en', 'About us', 'Who', '<p>We are.</p>', '2026-10-01T00:00:00Z');
        INSERT INTO page_text VALUES ('about', 'ru', 'О нас', 'Кто', '<p>Мы.</p>', '2026-10-02T00:00:00Z');
        INSERT INTO news VALUES ('old-news', 'alert', '2026-11-01T09:00:00Z');
        INSERT INTO statement VALUES ('{st.id}', x'{st.payload.hex()}', x'{st.signature.hex()}', 'k1', '2026-11-01T09:00:00Z');
        INSERT INTO news_text VALUES ('old-news', 'en', 'Old news', 's', '<p>b</p>', '2026-11-01T09:00:00Z', '{st.id}');
    """)  # fmt: skip
    old.close()
    conn = connect(path)
    repo = ContentRepo(conn)
    snap = repo.snapshot(1)
    about = snap.page("about")
    assert about is not None and about.translations["ru"].title == "О нас" and about.section == "about"
    news = snap.news_item("old-news")
    assert news is not None and news.kind == "alert" and news.severity == "warning"
    assert news.translations["en"].statement_id == st.id and news.published == "2026-11-01T09:00:00Z"
    found = repo.statement(st.id)
    assert found is not None and not found.removed
    assert verify_document(found.statement.document(), {"k1": TrustedKey(bytes(KEY.verify_key))})["title"] == "Old news"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"item", "edition", "image"} <= tables and not {"page", "page_text", "news", "news_text"} & tables
    # and the workflow takes them up: a new edition of the old page
    w = Workflow(conn, Signer("M", KEY, "k1"), LANGS)
    d = store.item_by_slug(conn, "page", "about")
    assert d is not None
    assert w.new_edition(EDITOR, d.id, "en").edition == 2
    with pytest.raises(sqlite3.IntegrityError):  # one edition in progress per language, enforced by the database
        conn.execute("INSERT INTO edition (item, lang, number, state, title, author, created, updated) "
                     "VALUES (?, 'en', 9, 'draft', 't', 'x', 'n', 'n')", (d.id,))  # fmt: skip


def test_an_alert_is_a_banner_until_it_expires(tmp_path: Path) -> None:
    w = flow(tmp_path / "m.db")
    for slug, expires in (("gone-by", "2020-01-01T00:00:00Z"), ("still-on", "2999-01-01T06:00:00+06:00")):
        item = w.create(EDITOR, "alert", "en", Draft(slug, "", "b"), slug=slug,
                        alert=AlertSettings("critical", ("tr", "GE"), expires)).id  # fmt: skip
        w.submit(EDITOR, item, "en")
        w.approve(PUB, item, "en")
        w.publish(PUB, item, "en")
    snap = ContentRepo(w.conn).snapshot(1)
    assert {a.slug for a in snap.alerts()} == {"still-on", "gone-by"}  # both pages stay
    assert [a.slug for a in snap.banner_alerts()] == ["still-on"]
    on = snap.news_item("still-on")
    assert on is not None and on.countries == ("TR", "GE") and on.expires == "2999-01-01T00:00:00Z"
    # the scheduler's next event is that expiry: then every cached banner is dropped
    assert w.next_event("2026-12-01T00:00:00Z") == "2999-01-01T00:00:00Z"
    with pytest.raises(InvalidFieldError, match="severity"):
        w.create(EDITOR, "alert", "en", Draft("x", "", ""), alert=AlertSettings("apocalyptic"))
