"""Forwarded addresses behind a trusted proxy (the loopback here), and the per-address search limit:
an address that does not parse fails closed, for /metrics and for rate limits alike."""

import http.client
from collections.abc import Iterator

import pytest

from embassy.web.app import create_app
from web.conftest import ServerThread, SiteEnv, fetch, make_site_env
from web.test_site_http import CSP

# X-Forwarded-For values (each a list of header lines) that name no readable client.
UNREADABLE = {
    "ip:port": ["203.0.113.5:4711"],
    "loopback:port": ["127.0.0.1:8080"],
    "[v6]": ["[2001:db8::1]"],
    "[v6]:port": ["[::1]:443"],
    "bracketed loopback": ["[::1]"],
    "unknown": ["unknown"],
    "garbage": ["not an address; DROP TABLE"],
    "empty": [""],
    "empty entry nearest": ["198.51.100.1, "],
    "several with spaces": ["127.0.0.1 198.51.100.1"],
    "tab-separated": ["127.0.0.1\t198.51.100.1"],
    "leading zeros": ["127.000.000.001"],
    "obfuscated": ["0x7f.1"],
    "second header unreadable": ["198.51.100.1", "localhost"],
    "longer than twenty proxies": [", ".join(["127.0.0.1"] * 21)],
}


def _xff(lines: list[str]) -> list[tuple[str, str]]:
    return [("X-Forwarded-For", line) for line in lines]


def _get(base: str, path: str, headers: list[tuple[str, str]]) -> int:
    """A GET with repeated header lines, which fetch's dict cannot send."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("GET", path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


@pytest.mark.parametrize("form", sorted(UNREADABLE))
def test_an_unreadable_forwarded_address_is_not_the_loopback_for_metrics(server: ServerThread, form: str) -> None:
    assert _get(server.url, "/metrics", _xff(UNREADABLE[form])) == 403


@pytest.mark.parametrize(
    "lines",
    [["127.0.0.1"], ["::1"], ["198.51.100.1, 127.0.0.1"], ["garbage, ::1, 127.0.0.1"], [", ".join(["::1"] * 20)]],
)
def test_a_readable_loopback_chain_is_the_loopback(server: ServerThread, lines: list[str]) -> None:
    """Entries left of the nearest untrusted address are the client's own claims and are not read;
    here every entry read is a trusted proxy, so the leftmost one read is the client."""
    expected = 403 if lines[0].startswith("198.51.100.1") else 200
    assert _get(server.url, "/metrics", _xff(lines)) == expected


def test_the_client_is_read_from_the_right(server: ServerThread) -> None:
    # A client-supplied prefix (even a loopback one) does not make a remote client local.
    assert _get(server.url, "/metrics", _xff(["127.0.0.1, 198.51.100.1"])) == 403
    assert _get(server.url, "/metrics", _xff(["::1", "198.51.100.1, 127.0.0.1"])) == 403


@pytest.fixture(scope="module")
def limited_env(tmp_path_factory: pytest.TempPathFactory) -> SiteEnv:
    # 3 searches a minute per address in bursts of 1: the second search at once is refused.
    return make_site_env(
        tmp_path_factory.mktemp("limited"), server='trusted_proxies = ["127.0.0.1"]\nsearch_per_minute = 3\n'
    )


@pytest.fixture(scope="module")
def limited(limited_env: SiteEnv) -> Iterator[ServerThread]:
    with ServerThread(create_app(limited_env.config, limited_env.ring.serving_keys())) as s:
        yield s


def test_search_is_limited_per_address_with_a_page_in_the_visitors_language(limited: ServerThread) -> None:
    client = {"X-Forwarded-For": "198.51.100.20"}
    assert fetch(limited.url, "/ru/search?q=%D0%B2%D0%B8%D0%B7%D0%B0", headers=client).status == 200
    r = fetch(limited.url, "/ru/search?q=%D0%B2%D0%B8%D0%B7%D0%B0", headers=client)
    assert r.status == 429
    assert 1 <= int(r.header("Retry-After")) <= 20
    assert '<html lang="ru"' in r.text and "Слишком много запросов" in r.text
    assert (r.header("Content-Security-Policy"), r.header("Server"), r.header("Cache-Control")) == (
        CSP,
        "embassy",
        "no-store",
    )
    # another address, and the same /64 of IPv6 counted as one
    assert fetch(limited.url, "/fa/search?q=x", headers={"X-Forwarded-For": "198.51.100.21"}).status == 200
    assert fetch(limited.url, "/en/search?q=x", headers={"X-Forwarded-For": "2001:db8:5:6::1"}).status == 200
    v6 = fetch(limited.url, "/fa/search?q=x", headers={"X-Forwarded-For": "2001:db8:5:6:ffff::2"})
    assert v6.status == 429 and '<html lang="fa" dir="rtl"' in v6.text
    # pages other than search are not limited
    assert fetch(limited.url, "/ru/", headers=client).status == 200


def test_unreadable_forwarded_addresses_share_one_bucket(limited: ServerThread) -> None:
    """Fail closed: every client whose address cannot be read is one client, 'unknown'."""
    statuses = [
        _get(limited.url, "/en/search?q=visa", _xff(UNREADABLE[form]))
        for form in ("ip:port", "[v6]", "unknown", "garbage", "empty")
    ]
    assert statuses == [200, 429, 429, 429, 429]


def test_the_loopback_itself_is_not_limited(limited: ServerThread) -> None:
    for _ in range(5):
        assert fetch(limited.url, "/en/search?q=visa").status == 200


def test_the_retry_after_is_when_a_token_is_back(limited: ServerThread) -> None:
    client = {"X-Forwarded-For": "198.51.100.30"}
    assert fetch(limited.url, "/en/search?q=a", headers=client).status == 200
    waits = [int(fetch(limited.url, "/en/search?q=a", headers=client).header("Retry-After")) for _ in range(3)]
    assert all(18 <= w <= 20 for w in waits)  # one token every 20 s; refused tries spend nothing
