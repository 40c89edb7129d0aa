"""The whole story over real HTTP: the public writes, custodians and officers open the inbox, an
officer answers, the code holder reads the answer; the API; and what the site refuses."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from embassy.audit.log import entries
from embassy.contact import custody
from embassy.contact.codes import display, new_code
from embassy.mission_db import MISSION_DB, connect
from embassy.staff import accounts, recovery, tokens
from embassy.staff.passwords import new_one_time_password
from embassy.web.app import create_app
from keys.custody import parse_share
from keys.inbox_keys import (
    RECOVERY_SHARES,
    RecoverySplit,
    WrongOfficerPasswordError,
    new_officer_key,
    recovery_key_from_shares,
    unlock_officer_key,
)
from keys.kdf import KdfParams
from web.conftest import ServerThread, SiteEnv
from web.contact.contactkit import CODE_RE, contact_env, filled, form_of, multipart, urlencoded
from web.staff.staffkit import Client, cached_hash, close, code_now, conns, make_account, sign_in, signed_in

NEW_PASSWORD = "seven amber kites over the harbour"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteEnv, RecoverySplit, ServerThread]]:
    env, split = contact_env(tmp_path_factory.mktemp("inbox-http"))
    with ServerThread(create_app(env.config, env.ring.serving_keys(), contact_key=b"c" * 32)) as server:
        yield env, split, server


def test_the_public_writes_officers_answer_and_the_code_holder_reads_it(
    story: tuple[SiteEnv, RecoverySplit, ServerThread],
) -> None:
    env, split, server = story
    data = env.config.data_dir
    amina_totp = make_account(data, "amina", ["admin"])
    boris_totp = make_account(data, "boris", ["consular"])
    assert amina_totp and boris_totp

    # A visitor without JavaScript writes an emergency; another, with it, a consular request and a scan.
    visitor = Client(server.url, address="198.51.100.7")
    page = visitor.get("/en/contact").text
    assert page.index('id="form-emergency"') < page.index('id="form-consular"') < page.index('id="form-general"')
    assert "+7 700 000 00 00" in page and 'name="website"' in page
    emergency = form_of(page, "emergency")
    r = visitor.request("POST", "/en/contact", raw=urlencoded(filled(emergency, pow_solved=False, name="Dana",
                        phone="+7 701 222 33 44", message="My son is in hospital in Antalya")))  # fmt: skip
    assert r.status == 201, r.text[:300]
    assert "checked by hand" in r.text  # no proof of work: accepted, marked for review
    emergency_code = CODE_RE.search(r.text).group(1)  # type: ignore[union-attr]
    consular = form_of(visitor.get("/ru/contact").text, "consular")
    body = multipart(filled(consular, type="passport", name="Серик", email="serik@mail.example",
                            message="Прошу заменить паспорт <script>alert(1)</script>"), [("../../скан.png", png())])  # fmt: skip
    r = visitor.request("POST", "/ru/contact", raw=body)
    assert r.status == 201 and "checked by hand" not in r.text
    code = CODE_RE.search(r.text).group(1)  # type: ignore[union-attr]
    assert r.header("Cache-Control") == "no-store" and code not in (r.header("Location") or "")
    again = visitor.request("POST", "/ru/contact", raw=body)  # the same form sent twice: one case only
    assert again.status == 409 and "уже отправлена" in again.text

    # amina signs in: her officer key is made now; nobody has given her the inbox yet.
    amina = Client(server.url, address="203.0.113.5")
    assert sign_in(amina, "amina", amina_totp).status == 303
    assert "__Host-embassy-inbox" in amina.cookies
    queue = amina.get("/staff/inbox")
    assert queue.status == 200 and "does not hold the inbox key" in queue.text
    assert queue.text.index("ch-emergency") < queue.text.index("ch-consular")  # emergency first
    case_id = next(c.id for c in _queue(data) if c.channel == "consular")
    locked = amina.get(f"/staff/inbox/cases/{case_id}")
    assert locked.status == 200 and "Прошу заменить" not in locked.text and "is sealed" in locked.text

    # The custodians give her the inbox with two of the three shares; her session opens it at once.
    conn = connect(data / MISSION_DB)
    shares = [parse_share(split.shares[i].text, f"share {i}", RECOVERY_SHARES) for i in (0, 1)]
    custody.recover(conn, recovery_key_from_shares(shares, split.public), "amina", actor="custodians")
    conn.close()
    opened = amina.get(f"/staff/inbox/cases/{case_id}")
    assert "serik@mail.example" in opened.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in opened.text
    assert "<script>alert(1)" not in opened.text
    download = amina.get(f"/staff/inbox/cases/{case_id}/attachments/1")
    assert download.status == 200 and download.body == png()
    assert download.header("Content-Disposition").startswith('attachment; filename="____.png"')
    assert "filename*=UTF-8''%D1%81%D0%BA%D0%B0%D0%BD.png" in download.header("Content-Disposition")
    assert download.header("Content-Security-Policy") == "sandbox; default-src 'none'"
    assert download.header("Content-Type") == "image/png" and download.header("X-Content-Type-Options") == "nosniff"

    # She answers; the code holder reads the answer (and nothing of what they wrote themselves).
    r = amina.post(f"/staff/inbox/cases/{case_id}/reply", {"body": "Приходите во вторник с фотографией"})
    assert r.status == 303
    shown = visitor.request("POST", "/ru/case", raw=urlencoded({"code": code.lower().replace("-", " ")}))
    assert shown.status == 200 and "Приходите во вторник с фотографией" in shown.text
    assert "Ждём вашего ответа" in shown.text and "Прошу заменить" not in shown.text
    wrong = visitor.request("POST", "/ru/case", raw=urlencoded({"code": display(new_code())}))
    assert wrong.status == 404 and "Обращения с таким кодом нет" in wrong.text
    assert visitor.request("POST", "/en/case", raw=urlencoded({"code": emergency_code})).status == 200

    # boris, a consular officer, signs in after the inbox was made: amina gives him access.
    boris = Client(server.url, address="203.0.113.6")
    assert sign_in(boris, "boris", boris_totp).status == 303
    assert "does not hold the inbox key" in boris.get("/staff/inbox").text
    assert amina.post("/staff/inbox/access", {"account": "boris", "action": "grant"}).status == 303
    assert "serik@mail.example" in boris.get(f"/staff/inbox/cases/{case_id}").text
    assert boris.post("/staff/inbox/access", {"account": "amina", "action": "revoke"}).status == 403  # admins only

    # His password changes: the same officer key follows it, so access survives a new sign-in.
    boris.get("/staff/account/password")
    r = boris.post("/staff/account/password", {"password": "quiet river under seven lanterns", "new": NEW_PASSWORD,
                                               "repeat": NEW_PASSWORD})  # fmt: skip
    assert r.status == 303, r.text[:400]
    boris.post("/staff/logout", {})
    c = conns(data)  # this TOTP step is used up: the next sign-in goes with a recovery code
    accounts.replace_recovery_codes(c.mission, "boris", [recovery.code_hash("K7QM-3XHD-9TWP-R2BV-C4NS-8ZQE")],
                                    actor="test")  # fmt: skip
    close(c)
    again_boris = Client(server.url, address="203.0.113.6")
    again_boris.get("/staff/login")
    assert again_boris.post("/staff/login", {"name": "boris", "password": NEW_PASSWORD}).status == 303
    again_boris.get("/staff/login/factor")
    assert again_boris.post("/staff/login/recovery", {"code": "K7QM-3XHD-9TWP-R2BV-C4NS-8ZQE"}).status == 303
    assert "serik@mail.example" in again_boris.get(f"/staff/inbox/cases/{case_id}").text

    # Status and assignment; the API with a token sees metadata only, and can answer.
    assert amina.post(f"/staff/inbox/cases/{case_id}/assign", {"account": "boris"}).status == 303
    assert amina.post(f"/staff/inbox/cases/{case_id}/status", {"status": "in_progress"}).status == 303
    c = conns(data)
    token = tokens.create(c.mission, "boris", ["consular"], 1, actor="boris")[0]
    close(c)
    api = Client(server.url)
    bearer = {"Authorization": f"Bearer {token}"}
    listed = json.loads(api.get("/api/v1/inbox?channel=consular", headers=bearer).body)
    assert [x["id"] for x in listed["cases"]] == [case_id]
    assert set(listed["cases"][0]) >= {"id", "channel", "type", "lang", "status", "received", "priority"}
    one = json.loads(api.get(f"/api/v1/cases/{case_id}", headers=bearer).body)
    assert one["status"] == "in_progress" and one["assigned"] == "boris" and one["message"] is None
    assert all(e["sealed"] for e in one["entries"]) and "Прошу" not in json.dumps(one)
    json_body = (json.dumps({"body": "Ваш паспорт готов", "status": "closed"}).encode(), "application/json")
    replied = api.request("POST", f"/api/v1/cases/{case_id}/reply", headers=bearer, raw=json_body)
    assert replied.status == 201 and json.loads(replied.body)["status"] == "closed"
    assert api.request("POST", f"/api/v1/cases/{case_id}/status", headers=bearer,
                       raw=(b'{"status": "gone"}', "application/json")).status == 422  # fmt: skip
    final = visitor.request("POST", "/ru/case", raw=urlencoded({"code": code}))
    assert "Ваш паспорт готов" in final.text and "Закрыто" in final.text

    # A follow-up reopens the case for the officers.
    token_field = final.text.split('name="token" value="')[1].split('"')[0]
    r = visitor.request("POST", "/ru/case", raw=multipart({"code": code, "action": "followup", "token": token_field,
                                                           "message": "Спасибо, заберу в пятницу"}))  # fmt: skip
    assert r.status == 201 and "добавлено к обращению" in r.text
    assert "Спасибо, заберу в пятницу" in amina.get(f"/staff/inbox/cases/{case_id}").text

    conn = connect(data / MISSION_DB)
    actions = [(e.actor, e.action) for e in entries(conn)]
    conn.close()
    for wanted in [("custodians", "inbox.recovered"), ("amina", "case.viewed"), ("amina", "case.attachment_downloaded"),
                   ("amina", "case.replied"), ("amina", "inbox.granted"), ("amina", "case.assigned"),
                   ("amina", "case.status"), ("boris", "case.replied"), ("amina", "inbox.viewed")]:  # fmt: skip
        assert wanted in actions, wanted


def _queue(data: Path) -> list:  # type: ignore[type-arg]
    from embassy.contact import cases

    conn = connect(data / MISSION_DB)
    try:
        return cases.queue(conn, cases.QueueFilter(status="all"))
    finally:
        conn.close()


def test_what_the_public_forms_refuse(story: tuple[SiteEnv, RecoverySplit, ServerThread]) -> None:
    env, _, server = story
    before = len(_queue(env.config.data_dir))
    visitor = Client(server.url, address="198.51.100.20")
    form = form_of(visitor.get("/en/contact").text, "general")
    good = filled(form, email="a@b.example", message="hello")

    cross = visitor.request("POST", "/en/contact", raw=urlencoded(good), headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403
    assert visitor.request("POST", "/en/contact", raw=urlencoded(good),
                           headers={"Origin": "https://evil.example"}).status == 403  # fmt: skip
    honey = visitor.request("POST", "/en/contact", raw=urlencoded({**good, "website": "http://spam.example"}))
    assert honey.status == 422 and "must stay empty" in honey.text and ">hello</textarea>" in honey.text
    forged = visitor.request("POST", "/en/contact", raw=urlencoded({**good, "token": form.token[:-4] + "AAAA"}))
    assert forged.status == 400 and "could not be checked" in forged.text and ">hello</textarea>" in forged.text
    fields = visitor.request("POST", "/en/contact", raw=urlencoded({**good, "email": "nope", "message": ""}))
    assert fields.status == 422 and 'aria-invalid="true"' in fields.text and "This field is required" in fields.text
    exe = visitor.request("POST", "/en/contact", raw=multipart(good, [("photo.png", b"MZ\x90\x00" * 100)]))
    assert exe.status == 422 and "Only PDF, JPEG and PNG" in exe.text
    too_many = visitor.request("POST", "/en/contact", raw=multipart(good, [("a.png", png())] * 4))
    assert too_many.status == 400
    big = visitor.request("POST", "/en/contact", raw=urlencoded({**good, "message": "x" * 70_000}))
    assert big.status == 413
    assert len(_queue(env.config.data_dir)) == before  # none of these stored anything


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    env, _ = contact_env(tmp_path_factory.mktemp("strict"), "submissions_per_hour = 2\nnojs_per_hour = 1\n"
                                                             "lookups_per_minute = 3\n")  # fmt: skip
    with ServerThread(create_app(env.config, env.ring.serving_keys(), contact_key=b"s" * 32)) as server:
        yield server


def test_limits_answer_429_in_the_visitors_language_and_give_the_text_back(strict: ServerThread) -> None:
    visitor = Client(strict.url, address="198.51.100.30")
    statuses = []
    for _ in range(3):
        form = form_of(visitor.get("/kk/contact").text, "general")
        r = visitor.request("POST", "/kk/contact", raw=urlencoded(filled(form, email="a@b.example",
                                                                          message="сәлем")))  # fmt: skip
        statuses.append(r.status)
    assert statuses == [201, 201, 429]
    assert "Желіңізден қысқа уақытта тым көп хабарлама" in r.text and ">сәлем</textarea>" in r.text
    assert int(r.header("Retry-After") or 0) >= 1
    nojs = [visitor.request("POST", "/en/contact", raw=urlencoded(filled(form_of(visitor.get("/en/contact").text,
            "general"), pow_solved=False, email="a@b.example", message="hi"))).status for _ in range(2)]  # fmt: skip
    assert nojs == [429, 429]  # without JavaScript counts against the address's limit too
    neighbour = Client(strict.url, address="198.51.100.31")  # another address is not held back
    form = form_of(neighbour.get("/en/contact").text, "general")
    assert neighbour.request("POST", "/en/contact", raw=urlencoded(filled(form, pow_solved=False,
                             email="a@b.example", message="hi"))).status == 201  # fmt: skip
    looks = [visitor.request("POST", "/en/case", raw=urlencoded({"code": display(new_code())})).status
             for _ in range(4)]  # fmt: skip
    assert looks == [404, 404, 404, 429]


SECRET_RE = re.compile(r'name="secret" value="([A-Z2-7]{32})"')


def test_the_first_sign_in_of_an_officer_granted_with_a_one_time_password_keeps_the_inbox(
    story: tuple[SiteEnv, RecoverySplit, ServerThread],
) -> None:
    """As the demo's ambassador: granted at `inbox init` under the one-time password, which the first
    sign-in replaces; the officer key follows the new password, so the inbox stays open."""
    env, split, server = story
    data = env.config.data_dir
    one_time = new_one_time_password()
    conn = connect(data / MISSION_DB)
    accounts.create(conn, "daniyar", ["consular"], cached_hash(one_time), actor="test")
    custody.set_officer_key(conn, "daniyar", new_officer_key(one_time, KdfParams.low_cost_for_tests())[0], actor="t")
    shares = [parse_share(split.shares[i].text, str(i), RECOVERY_SHARES) for i in (0, 2)]
    custody.recover(conn, recovery_key_from_shares(shares, split.public), "daniyar", actor="custodians")
    conn.close()
    browser = Client(server.url, address="203.0.113.9")
    browser.get("/staff/login")
    r = browser.post("/staff/login", {"name": "daniyar", "password": one_time})
    assert (r.status, r.header("Location")) == (303, "/staff/account/password")
    browser.get("/staff/account/password")
    r = browser.post("/staff/account/password", {"new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert (r.status, r.header("Location")) == (303, "/staff/account/factors")
    secret = SECRET_RE.search(browser.get("/staff/account/totp").text).group(1)  # type: ignore[union-attr]
    assert browser.post("/staff/account/totp", {"secret": secret, "code": code_now(secret)}).status == 200
    queue = browser.get("/staff/inbox")
    assert queue.status == 200 and "does not hold the inbox key" not in queue.text
    conn = connect(data / MISSION_DB)
    key = custody.officer_key(conn, "daniyar")
    assert key is not None
    private = unlock_officer_key(key, NEW_PASSWORD)  # the same key, now under the new password
    assert custody.open_grants(conn, "daniyar", private) != []
    conn.close()
    with pytest.raises(WrongOfficerPasswordError):
        unlock_officer_key(key, one_time)


def test_failing_duty_notifications_are_shown_in_the_inbox(story: tuple[SiteEnv, RecoverySplit, ServerThread]) -> None:
    env, _, server = story
    data = env.config.data_dir
    make_account(data, "farida", ["consular"], totp=False)
    conn = connect(data / MISSION_DB)
    conn.execute("INSERT INTO contact_outbox (case_id, kind, created, attempts, next_attempt, last_error) "
                 "VALUES ('0123456789abcdef', 'duty', '2026-12-01T10:00:00Z', 3, 0, 'SMTPConnectError: refused')")
    conn.commit()
    conn.close()
    officer = Client(server.url)
    signed_in(officer, data, "farida")
    page = officer.get("/staff/inbox").text
    assert 'id="outbox-failing"' in page and "since 2026-12-01T10:00:00Z (3 attempts)" in page
    assert "SMTPConnectError: refused" in page
