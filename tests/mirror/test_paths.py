"""Where each site URL lands in a mirror, and links made relative to the page that holds them."""

import pytest

from embassy.mirror.paths import MirrorNameError, check_name, file_for, relative, rewrite_links, site_links


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/en/", "en/index.html"),
        ("/kk/news/", "kk/news/index.html"),
        ("/kk/news/?page=3", "kk/news/page-3.html"),
        ("/ru/news/storm-season-alert", "ru/news/storm-season-alert.html"),
        ("/en/pages/visa", "en/pages/visa.html"),
        ("/en/contact", "en/contact.html"),
        ("/en/search?q=visa", "en/search.html"),
        ("/feed/en.atom", "feed/en.atom"),
        ("/feed/alerts/kk.atom", "feed/alerts/kk.atom"),
        ("/statements/0123456789abcdef.json", "statements/0123456789abcdef.json"),
        ("/media/0123456789abcdef01234567.webp", "media/0123456789abcdef01234567.webp"),
        ("/static/site.css?v=abc123", "static/site.css"),
        ("/.well-known/embassy-keys.json", ".well-known/embassy-keys.json"),
        ("/favicon.svg", "favicon.svg"),
        ("/sitemap.xml", "sitemap.xml"),
    ],
)
def test_every_public_url_has_a_file_named_by_what_it_is(url: str, name: str) -> None:
    assert file_for(url) == name
    assert check_name(name) == name


@pytest.mark.parametrize(
    "url",
    ["/staff/", "/api/v1/items", "/en/case", "/en/news/?page=1", "/en/news/x?page=2", "/en/pages/../../etc/passwd",
     "/en/pages/Visa", "/statements/xyz.json", "/healthz", "/metrics", "/"],
)  # fmt: skip
def test_what_a_mirror_cannot_hold_has_no_file(url: str) -> None:
    assert file_for(url) is None


@pytest.mark.parametrize(
    "name", ["../x.html", "/etc/passwd", ".hidden/x.html", "en//x.html", "en/../x.html", "en/x", "", ".git/config"]
)
def test_a_name_no_mirror_writes_is_refused(name: str) -> None:
    with pytest.raises(MirrorNameError, match="is not a mirror file name"):
        check_name(name)


def test_links_become_relative_to_the_page_and_the_rest_stays() -> None:
    page = (
        '<a href="/en/">home</a> <a href="/en/news/visa-rules#top">x</a> <a href="/staff/">staff</a> '
        '<img src="/media/0123456789abcdef01234567.jpg" srcset="/media/0123456789abcdef01234567.jpg 480w, '
        '/media/0123456789abcdef01234568.jpg 960w"> <a href="https://mission.example/en/">abs</a> '
        '<link rel="stylesheet" href="/static/site.css?v=1"><form action="/en/search" method="get">'
    )
    out = rewrite_links(page, "en/news/visa-rules.html")
    assert '<a href="../index.html">home</a>' in out
    assert '<a href="visa-rules.html#top">x</a>' in out
    assert '<a href="/staff/">staff</a>' in out
    assert 'src="../../media/0123456789abcdef01234567.jpg"' in out
    assert (
        'srcset="../../media/0123456789abcdef01234567.jpg 480w, ../../media/0123456789abcdef01234568.jpg 960w"' in out
    )
    assert 'href="https://mission.example/en/"' in out
    assert 'href="../../static/site.css"' in out
    assert 'action="../search.html"' in out
    assert site_links(page)[:2] == ["/en/", "/en/news/visa-rules"]
    assert relative(".well-known/embassy-keys.json", "index.html") == ".well-known/embassy-keys.json"
