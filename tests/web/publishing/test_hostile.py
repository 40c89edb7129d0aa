"""Hostile input in every field, through the API and the staff forms: refused with a clear error, or
stored and shown inert. Markup and script in titles, summaries, bodies, alt texts, change notes and
reasons; oversized bodies and images; files that are not the images they claim to be."""

from __future__ import annotations

import io
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser

import pytest
from PIL import Image

from web.conftest import ServerThread, SiteEnv, fetch
from web.publishing.conftest import Api
from web.staff.staffkit import Client, signed_in

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Live(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (name in ("href", "src") and re.match(r"\s*(javascript|data):", value or "", re.I)):
                self.found.append(f"{tag} {name}={value}")


def live_markup(html: str) -> list[str]:
    """Tags, handlers and URLs that would run (read as a browser parses the page, so that escaped
    text is text): none may come from what staff typed."""
    parser = _Live()
    parser.feed(html)
    return parser.found


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def bomb_png(side: int = 20000) -> bytes:
    """A tiny PNG that claims side x side pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(b"\x00" * (side // 8 + 1) * 10)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))  # fmt: skip


def published_item(ed: Api, pat: Api, quinn: Api, **fields: object) -> tuple[str, dict]:
    body = {"kind": "news", "lang": "en", **fields}
    status, made = ed.call("POST", "/items", body)
    assert status == 201, made
    item = made["id"]
    assert ed.call("POST", f"/items/{item}/editions/en/submit")[0] == 200
    assert pat.call("POST", f"/items/{item}/editions/en/approve")[0] == 200
    status, done = quinn.call("POST", f"/items/{item}/editions/en/publish")
    assert status == 200, done
    return item, done


def test_markup_in_every_text_field_is_inert(apis: dict[str, Api], pub_server: ServerThread) -> None:
    ed, pat, quinn = apis["ed.writer"], apis["pat.publisher"], apis["quinn.publisher"]
    body = ("Hello <b onclick=alert(1)>bold</b> [click](javascript:alert(1)) <iframe src=//evil></iframe>\n\n"
            f"{SCRIPT}\n\n<a href='data:text/html,x'>d</a> ![x](https://evil.example/t.png)")  # fmt: skip
    status, made = ed.call("POST", "/items", {"kind": "news", "lang": "en", "title": f"T {SCRIPT}", "summary": SCRIPT,
                                              "body": "safe", "slug": "hostile-markup"})  # fmt: skip
    assert status == 201
    item = made["id"]
    # a body showing an image from elsewhere cannot be submitted, and the image is never shown
    ed.call("PUT", f"/items/{item}/editions/en", {"title": f"T {SCRIPT}", "summary": SCRIPT, "body": body})
    status, err = ed.call("POST", f"/items/{item}/editions/en/submit")
    assert status == 422 and "not one of this item's uploads" in err["error"]
    ed.call("PUT", f"/items/{item}/editions/en", {"title": f"T {SCRIPT}", "summary": SCRIPT,
                                                  "body": body.replace(" ![x](https://evil.example/t.png)", "")})
    ed.call("POST", f"/items/{item}/editions/en/submit")
    pat.call("POST", f"/items/{item}/editions/en/approve")
    quinn.call("POST", f"/items/{item}/editions/en/publish")
    page = fetch(pub_server.url, "/en/news/hostile-markup").text
    article = page[page.index("<article"):page.index("</article>")]
    assert live_markup(page) == [] and "evil" not in article and "<iframe" not in article
    assert "&lt;script&gt;" in page and "<b>bold</b>" not in article  # <b> is not on the allow-list
    feed = ET.fromstring(fetch(pub_server.url, "/feed/en.atom").body)  # noqa: S314 - our own server's feed
    contents = [c.text or "" for c in feed.iter("{http://www.w3.org/2005/Atom}content")]
    assert contents and all(live_markup(html) == [] for html in contents)  # what a feed reader will show
    # the change note and the reason, too
    ed.call("POST", f"/items/{item}/editions/en", {"title": "T", "body": "b", "change_note": SCRIPT, "major": True})
    ed.call("POST", f"/items/{item}/editions/en/submit")
    pat.call("POST", f"/items/{item}/editions/en/approve")
    quinn.call("POST", f"/items/{item}/editions/en/publish")
    quinn.call("POST", f"/items/{item}/editions/en/withdraw", {"reason": SCRIPT})
    page = fetch(pub_server.url, "/en/news/hostile-markup").text
    assert live_markup(page) == [] and page.count("&lt;script&gt;") >= 2


@pytest.mark.parametrize(("field", "value", "words"), [
    ("title", "", "at least 1 character"),
    ("title", "x" * 201, "at most 200 characters"),
    ("title", "line\nbreak", "control characters or line breaks"),
    ("title", "nul\x00", "control characters"),
    ("summary", "s" * 601, "at most 600 characters"),
    ("body", "b" * 100_001, "at most 100000 characters"),
    ("body", "bell\x07", "control characters"),
    ("slug", "../etc/passwd", "should match pattern"),
    ("slug", "UPPER", "should match pattern"),
    ("kind", "script", "Input should be 'news', 'page' or 'alert'"),
    ("lang", "xx", "not one of the mission's languages"),
    ("expires", "tomorrow", "not an ISO 8601 time"),
    ("countries", ["T1"], "should match pattern"),
    ("section", "../../x", "not one of home, about"),
])  # fmt: skip
def test_invalid_fields_are_refused_with_their_name(apis: dict[str, Api], field: str, value: object,
                                                    words: str) -> None:  # fmt: skip
    body = {"kind": "alert" if field in ("expires", "countries") else "page" if field == "section" else "news",
            "lang": "en", "title": "A title", field: value}  # fmt: skip
    status, err = apis["ed.writer"].call("POST", "/items", body)
    assert status == 422 and err["field"].startswith(field) and words in err["error"], err


def test_bodies_that_are_not_json_or_too_large(apis: dict[str, Api]) -> None:
    ed = apis["ed.writer"]
    assert ed.call("POST", "/items", raw=b"{not json")[0] == 400
    assert ed.call("POST", "/items", raw=b'{"kind": "news"}', content_type="text/plain")[0] == 415
    status, err = ed.call("POST", "/items", raw=b'{"kind": "news", "lang": "en", "title": "t", "major": "yes"}')
    assert status == 422 and err["field"] == "major"
    assert ed.call("POST", "/items", raw=b"[" * 600_000)[0] == 413


def test_images_that_are_not_what_they_claim_are_refused(apis: dict[str, Api], pub_server: ServerThread) -> None:
    ed = apis["ed.writer"]
    item = ed.call("POST", "/items", {"kind": "news", "lang": "en", "title": "Images"})[1]["id"]
    jpeg = io.BytesIO()
    Image.new("RGB", (300, 200)).save(jpeg, "JPEG")
    gif = io.BytesIO()
    Image.new("RGB", (300, 200)).save(gif, "GIF")
    cases = {
        "html named as png": (b"<html><script>alert(1)</script></html>", "image/png", 422, "not a JPEG, PNG or WebP"),
        "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/png", 422, "not a JPEG"),
        "gif": (gif.getvalue(), "image/jpeg", 422, "not a JPEG, PNG or WebP"),
        "truncated jpeg": (jpeg.getvalue()[:400], "image/jpeg", 422, "damaged or truncated"),
        "jpeg then html": (jpeg.getvalue()[:300] + b"<script>x</script>" * 20, "image/jpeg", 422, "damaged"),
        "bomb": (bomb_png(), "image/png", 422, "megapixels"),
        "tiny": (png(4, 4), "image/png", 422, "at least 16"),
        "empty": (b"", "image/png", 422, "empty"),
        "not an image type": (png(100, 100), "text/html", 415, "image/jpeg"),
        "too large": (png(100, 100) + b"\x00" * (10 * 1024 * 1024), "image/png", 413, "too large"),
    }
    for name, (data, ctype, status, words) in cases.items():
        got, err = ed.call("POST", f"/items/{item}/images", raw=data, content_type=ctype)
        assert (got, words in err["error"]) == (status, True), (name, got, err)
    # nothing of them was kept
    assert ed.call("GET", f"/items/{item}")[1]["images"] == []
    # a real PNG is fine, re-encoded and resized: no variant is wider than the original
    status, image = ed.call("POST", f"/items/{item}/images", raw=png(700, 350), content_type="image/png")
    assert status == 201 and image["width"] == 700 and len(image["urls"]) == 2
    served = fetch(pub_server.url, image["urls"][0])
    assert served.status == 200 and served.header("Content-Type") == "image/png"
    assert Image.open(io.BytesIO(served.body)).size == (480, 240)


def test_the_staff_forms_refuse_the_same(pub_server: ServerThread, pub_env: SiteEnv) -> None:
    client = Client(pub_server.url)
    signed_in(client, pub_env.config.data_dir, "ed.writer")
    client.get("/staff/items/new")
    r = client.post("/staff/items", {"kind": "news", "lang": "en", "title": "x" * 300, "body": "b"})
    assert r.status == 422 and "title: 300 characters; at most 200" in r.text
    r = client.post("/staff/items", {"kind": "news", "lang": "en", "title": f"Form {SCRIPT}", "body": SCRIPT})
    assert r.status == 303
    page = client.get(r.header("Location").split("?")[0])
    assert live_markup(page.text) == [] and "Form &lt;script&gt;" in page.text
    item = re.search(r"/staff/items/([0-9a-f]{12})", r.header("Location")).group(1)
    preview = client.get(f"/staff/items/{item}/en/preview")
    assert preview.status == 200 and live_markup(preview.text) == []
    # an upload that is not an image: the item's page again, with the reason
    boundary = "b0undary"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{client.csrf}\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cat.png\"\r\n"
               f"Content-Type: image/png\r\n\r\n<html>no</html>\r\n--{boundary}--\r\n").encode()  # fmt: skip
    r = client.request_raw("POST", f"/staff/items/{item}/images", payload,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    assert r.status == 422 and "not a JPEG, PNG or WebP image" in r.text
    # a file part in a form that takes none is refused
    r = client.request_raw("POST", "/staff/items", payload, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status == 400
