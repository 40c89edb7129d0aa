"""The editorial workflow through the staff API with tokens, on a real server: two people, signed
editions, history, withdrawal, urgent publication, removal, images; and what the public then sees."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from conftest import run_cli
from PIL import Image

from embassy.publishing.fields import Draft
from web.conftest import PUBLIC_URL, ServerThread, SiteEnv, fetch
from web.publishing.conftest import Api


def jpeg_with_location(width: int = 1800, height: int = 1200) -> bytes:
    """A photo as a phone takes it: EXIF with a GPS position and the camera's serial number."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0xA431] = "SERIAL-12345"  # BodySerialNumber
    exif[0x8825] = {1: "N", 2: (43.0, 15.0, 30.0), 3: "E", 4: (76.0, 54.0, 10.0)}  # GPS IFD
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def test_two_people_publish_a_bilingual_item_with_an_image(apis: dict[str, Api], pub_server: ServerThread,
                                                           pub_env: SiteEnv, tmp_path: Path) -> None:  # fmt: skip
    ed, pat, quinn = apis["ed.writer"], apis["pat.publisher"], apis["quinn.publisher"]
    status, made = ed.call("POST", "/items", {"kind": "news", "lang": "en", "title": "Consular day in Bishkek",
                                              "summary": "Officers receive citizens on 12 December.",
                                              "body": "Book a slot through the contact form.", "slug": "bishkek-day"})
    assert (status, made["state"], made["edition"]) == (201, "draft", 1), made
    item = made["id"]
    photo = jpeg_with_location()
    assert b"SERIAL-12345" in photo
    status, image = ed.call("POST", f"/items/{item}/images", raw=photo, content_type="image/png")  # named wrongly
    assert status == 201 and image["width"] == 1800 and image["markdown"] == f"![](image:{image['id']})"
    assert [u.rsplit(".", 1)[1] for u in image["urls"]] == ["jpg", "jpg", "jpg"]
    # an image without alt text is refused at submission, naming it
    body_en = f"Book a slot through the contact form.\n\n![](image:{image['id']})"
    assert ed.call("PUT", f"/items/{item}/editions/en", {"title": "Consular day in Bishkek", "body": body_en,
                                                         "summary": "Officers receive citizens on 12 December."})[0] == 200
    status, err = ed.call("POST", f"/items/{item}/editions/en/submit", {})
    assert status == 422 and err["field"] == "body" and "no alt text" in err["error"]
    body_en = f"Book a slot through the contact form.\n\n![The consulate's door in Bishkek](image:{image['id']})"
    ed.call("PUT", f"/items/{item}/editions/en", {"title": "Consular day in Bishkek", "body": body_en,
                                                  "summary": "Officers receive citizens on 12 December."})
    assert ed.call("POST", f"/items/{item}/editions/en/submit")[1]["state"] == "submitted"
    # the translation starts from the English edition, then is written in Russian with its own alt text
    status, ru = ed.call("POST", f"/items/{item}/editions/ru", {"source": "en"})
    assert status == 201 and ru["state"] == "draft"
    ed.call("PUT", f"/items/{item}/editions/ru", {
        "title": "Консульский день в Бишкеке", "summary": "Приём граждан 12 декабря.",
        "body": f"Запишитесь через форму.\n\n![Дверь консульства в Бишкеке](image:{image['id']})"})
    ed.call("POST", f"/items/{item}/editions/ru/submit")
    # the editor may not approve or publish; no publisher approves their own edition
    assert ed.call("POST", f"/items/{item}/editions/en/approve")[0] == 403
    status, err = pat.call("POST", f"/items/{item}/editions/en/publish", {})
    assert status == 409 and "approval" in err["error"]
    for lang in ("en", "ru"):
        assert pat.call("POST", f"/items/{item}/editions/{lang}/approve")[1]["state"] == "approved"
    status, done = quinn.call("POST", f"/items/{item}/editions/en/publish", {})
    assert status == 200 and done["state"] == "published" and done["url"] == f"{PUBLIC_URL}/en/news/bishkek-day"
    statement = done["statement"]
    assert quinn.call("POST", f"/items/{item}/editions/ru/publish")[1]["state"] == "published"
    assert quinn.call("POST", f"/items/{item}/editions/ru/publish")[0] == 409  # nothing in progress any more

    # the public sees it everywhere at once
    page = fetch(pub_server.url, "/en/news/bishkek-day").text
    assert "Consular day in Bishkek" in page and f'href="/statements/{statement}.json"' in page
    img = re.search(r'<img src="(/media/[0-9a-f]{24}\.jpg)"[^>]* alt="The consulate(?:&#39;|\')s door in Bishkek"', page)
    assert img, page[page.find("prose"):][:600]
    served = fetch(pub_server.url, img.group(1))
    assert served.status == 200 and served.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert b"SERIAL-12345" not in served.body and b"PhoneMaker" not in served.body and b"Exif" not in served.body
    assert Image.open(io.BytesIO(served.body)).getexif().get(0x8825) is None
    assert "Дверь консульства в Бишкеке" in fetch(pub_server.url, "/ru/news/bishkek-day").text
    kk = fetch(pub_server.url, "/kk/news/bishkek-day").text  # not translated: today's fallback with its note
    assert "Бұл бет әзірге мына тілде жоқ: Қазақша" in kk and "Консульский день в Бишкеке" in kk  # next in order
    assert "Consular day in Bishkek" in fetch(pub_server.url, "/feed/en.atom").text
    assert f"{PUBLIC_URL}/ru/news/bishkek-day" in fetch(pub_server.url, "/sitemap.xml").text
    assert "/en/news/bishkek-day" in fetch(pub_server.url, "/en/search?q=bishkek").text

    # an outsider checks the statement with the published keys only
    (tmp_path / "st.json").write_bytes(fetch(pub_server.url, f"/statements/{statement}.json").body)
    (tmp_path / "keys.json").write_bytes(fetch(pub_server.url, "/.well-known/embassy-keys.json").body)
    checked = run_cli("statement", "verify", str(tmp_path / "st.json"), "--keys", str(tmp_path / "keys.json"),
                      cwd=tmp_path)  # fmt: skip
    assert checked.code == 0 and "authentic statement of Test Virtual Mission" in checked.out, checked.err
    doc = json.loads((tmp_path / "st.json").read_text())["statement"]
    assert (doc["item"], doc["edition"], doc["kind"], doc["path"]) == (item, 1, "news", "/en/news/bishkek-day")

    # a major update: in the history and the feed; the first statement stays published
    ed.call("POST", f"/items/{item}/editions/en", {"title": "Consular day in Bishkek moved", "summary": "Now on 14 "
            "December.", "body": body_en, "change_note": "The date moved to 14 December.", "major": True})  # fmt: skip
    ed.call("POST", f"/items/{item}/editions/en/submit")
    pat.call("POST", f"/items/{item}/editions/en/approve")
    second = quinn.call("POST", f"/items/{item}/editions/en/publish")[1]["statement"]
    page = fetch(pub_server.url, "/en/news/bishkek-day").text
    history = page[page.index('id="history-h"'):]
    assert "The date moved to 14 December." in history and statement in history and second in history
    feed = fetch(pub_server.url, "/feed/en.atom").text
    assert "Updated: The date moved to 14 December." in feed and f"urn:embassy:item:{item}:en" in feed
    old = json.loads(fetch(pub_server.url, f"/statements/{statement}.json").body)["statement"]
    new = json.loads(fetch(pub_server.url, f"/statements/{second}.json").body)["statement"]
    assert old["title"] == "Consular day in Bishkek" and (new["edition"], new["previous"]) == (2, statement)
    # a minor one: the text changes, the history and the feed's date do not
    ed.call("POST", f"/items/{item}/editions/en", {"title": "Consular day in Bishkek moved", "summary": "Now on 14 "
            "December.", "body": body_en + "\n\nTypo fixed.", "change_note": "typo", "major": False})  # fmt: skip
    ed.call("POST", f"/items/{item}/editions/en/submit")
    pat.call("POST", f"/items/{item}/editions/en/approve")
    quinn.call("POST", f"/items/{item}/editions/en/publish")
    page = fetch(pub_server.url, "/en/news/bishkek-day").text
    assert "Typo fixed." in page and "typo" not in page[page.index('id="history-h"'):]
    assert fetch(pub_server.url, "/feed/en.atom").text.count("<updated>") >= 2

    # withdrawn: the page stays, with the banner, the date and the reason; a signed statement of its own
    status, gone = quinn.call("POST", f"/items/{item}/editions/en/withdraw", {"reason": "The visit was cancelled."})
    assert status == 200 and gone["state"] == "withdrawn" and gone["statement"] not in (statement, second)
    page = fetch(pub_server.url, "/en/news/bishkek-day")
    assert page.status == 200 and 'class="withdrawn"' in page.text and "The visit was cancelled." in page.text
    w = json.loads(fetch(pub_server.url, f"/statements/{gone['statement']}.json").body)["statement"]
    assert (w["kind"], w["reason"]) == ("withdrawal", "The visit was cancelled.")
    assert "Withdrawn: The visit was cancelled." in fetch(pub_server.url, "/feed/en.atom").text
    detail = ed.call("GET", f"/items/{item}")[1]
    states = [(e["lang"], e["edition"], e["state"]) for e in detail["editions"]]
    assert states == [("en", 1, "superseded"), ("en", 2, "superseded"), ("en", 3, "withdrawn"), ("ru", 1, "published")]
    assert {t["lang"]: t["status"] for t in detail["translations"]} == {"kk": "missing", "ru": "outdated",
                                                                        "en": "current"}  # fmt: skip


def test_urgent_publication_needs_a_reason_and_another_reviewer(apis: dict[str, Api], pub_server: ServerThread,
                                                                 pub_env: SiteEnv) -> None:  # fmt: skip
    pat, quinn, ed, admin = apis["pat.publisher"], apis["quinn.publisher"], apis["ed.writer"], apis["ada.admin"]
    item = pat.call("POST", "/items", {"kind": "alert", "lang": "en", "title": "Earthquake near Antalya",
                                       "summary": "Call the hotline.", "body": "Call +90 000.", "severity": "critical",
                                       "countries": ["tr"], "expires": "2999-01-01T00:00:00+06:00"})[1]["id"]
    assert ed.call("POST", f"/items/{item}/editions/en/publish", {"urgent_reason": "x"})[0] == 403
    status, err = pat.call("POST", f"/items/{item}/editions/en/publish", {"urgent_reason": "  "})
    assert (status, err["field"]) == (422, "urgent_reason")
    reason = "Earthquake: the hotline number must be out now"
    status, done = pat.call("POST", f"/items/{item}/editions/en/publish", {"urgent_reason": reason})
    assert status == 200 and done["state"] == "published"
    home = fetch(pub_server.url, "/en/").text
    assert 'class="severity-critical"' in home and "Earthquake near Antalya" in home and "Concerns: TR" in home
    detail = pat.call("GET", f"/items/{item}")[1]
    assert detail["editions"][0]["unreviewed"] is True and detail["countries"] == ["TR"]
    assert detail["expires"] == "2998-12-31T18:00:00Z"
    assert pat.call("POST", f"/items/{item}/editions/en/review")[0] == 403  # not by who published it
    assert quinn.call("POST", f"/items/{item}/editions/en/review")[1]["state"] == "published"
    assert pat.call("GET", f"/items/{item}")[1]["editions"][0]["unreviewed"] is False
    audit = admin.call("GET", "/audit?after=0")[1]["entries"]
    published = [e for e in audit if e["action"] == "edition.publish" and e["detail"]["item"] == item]
    assert published[0]["actor"] == "pat.publisher" and published[0]["detail"]["urgent_reason"] == reason
    assert [e["actor"] for e in audit if e["action"] == "edition.review"] == ["quinn.publisher"]


def test_removal_is_for_admins_and_answers_410(apis: dict[str, Api], pub_server: ServerThread,
                                               pub_env: SiteEnv) -> None:  # fmt: skip
    done = pub_env.publish("news", "en", Draft("Defamatory post", "s", "b"), slug="to-remove")
    assert fetch(pub_server.url, "/en/news/to-remove").status == 200
    assert apis["pat.publisher"].call("POST", f"/items/{done.id}/remove", {"reason": "court order"})[0] == 403
    status, gone = apis["ada.admin"].call("POST", f"/items/{done.id}/remove", {"reason": "Court order 12/2026"})
    assert status == 200 and gone["reason"] == "Court order 12/2026"
    page = fetch(pub_server.url, "/en/news/to-remove")
    assert page.status == 410 and "removed for legal reasons" in page.text
    assert fetch(pub_server.url, f"/statements/{done.statement}.json").status == 410
    assert "to-remove" not in fetch(pub_server.url, "/feed/en.atom").text
    assert "to-remove" not in fetch(pub_server.url, "/en/search?q=defamatory").text
    audit = apis["ada.admin"].call("GET", "/audit?after=0")[1]["entries"]
    assert [(e["actor"], e["detail"]["reason"]) for e in audit if e["action"] == "item.remove"] == [
        ("ada.admin", "Court order 12/2026")]
