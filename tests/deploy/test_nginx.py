"""deploy/nginx.conf as shipped, in a real nginx with a throw-away certificate, in front of a real
`embassy serve --workers 2` on loopback that gets its passphrase and metrics token as systemd
credentials (files in ``$CREDENTIALS_DIRECTORY``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import make_test_keyring, run_cli
from nginxkit import Front, Serve, fetch_upstream, render_site

from embassy.config import default_config_text
from embassy.web.cache import SECURITY_HEADERS
from embassy.web.middleware import HSTS

PASSPHRASE = "the nginx test's passphrase, long enough"
METRICS_TOKEN = secrets.token_urlsafe(24)


@dataclass
class Site:
    front: Front
    serve: Serve


def write_mission(root: Path) -> dict[str, str]:
    """The demo mission behind a proxy, configured as deploy/README.md says; returns the unit's environment."""
    root.mkdir()
    server = (
        '[server]\nhost = "127.0.0.1"\nport = 8080\npublic_url = "https://mission.example"\n'
        'trusted_proxies = ["127.0.0.1"]\nmetrics_token_env = "METRICS_TOKEN"\n'
    )
    text = default_config_text()
    start, end = text.index("[server]"), text.index("# The mission's own database")
    (root / "embassy.toml").write_text(text[:start] + server + "\n" + text[end:])
    credentials = root / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "embassy-passphrase").write_text(PASSPHRASE + "\n")
    (credentials / "METRICS_TOKEN").write_text(METRICS_TOKEN + "\n")
    env = {
        "CREDENTIALS_DIRECTORY": str(credentials),
        "EMBASSY_PASSPHRASE_FILE": str(credentials / "embassy-passphrase"),
    }
    # A keyring sealed with test-cost KDF parameters: `init` keeps it and seeds the demo around it.
    make_test_keyring(root / "var" / "keyring", ["mission-site", "population", "land-cadastre"], PASSPHRASE)
    init = run_cli("init", "--demo", cwd=root, env=env)
    assert init.code == 0, init.err
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("nginx")
    env = write_mission(root / "mission")
    serve = Serve(root / "mission", env)
    front: Front | None = None
    try:
        front = Front(root / "nginx", serve.port)
        checked = front.test_config()
        assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr
        assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr, checked.stderr
        front.start()
        yield Site(front, serve)
    finally:
        if front is not None:
            front.stop()
        serve.stop()


def test_nginx_t_accepts_the_shipped_file_and_refuses_a_broken_one(site: Site, tmp_path: Path) -> None:
    # (The fixture already ran `nginx -t` on the shipped file: exit 0, no warning.)
    broken = Front(tmp_path, site.serve.port)
    conf = broken.conf.read_text().replace("include", "includ")
    broken.conf.write_text(conf)
    checked = broken.test_config()
    assert checked.returncode != 0 and 'unknown directive "includ"' in checked.stderr


def test_a_page_over_https_carries_hsts_and_the_sites_security_headers(site: Site) -> None:
    page = site.front.fetch("/en/")
    assert page.status == 200
    assert b"Demo Virtual Mission" in page.body
    assert page.all("Strict-Transport-Security") == [HSTS]  # the site's own, once, not doubled by nginx
    for name, value in SECURITY_HEADERS.items():
        if name != "Server":
            assert page.all(name) == [value], name
    assert "nginx/" not in (page.headers["Server"] or "")  # no version on show
    # TLS 1.2+ and HTTP/2 offered to browsers.
    with site.front.tls_socket(alpn=["h2", "http/1.1"]) as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_the_sites_cookies_reach_the_browser_secure_through_nginx(site: Site) -> None:
    """The sign-in form's CSRF cookie as the browser gets it over HTTPS: every attribute intact."""
    page = site.front.fetch("/staff/login")
    assert page.status == 200
    assert page.all("Strict-Transport-Security") == [HSTS]
    (cookie,) = page.all("Set-Cookie")
    name, _, attributes = cookie.partition(";")
    assert name.startswith("__Host-embassy-login=") and len(name) > len("__Host-embassy-login=") + 20
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in attributes.split(";") if part.strip()}
    assert {"secure", "httponly", "samesite", "path"} <= flags.keys(), cookie
    assert flags["samesite"] == "SameSite=Strict" and flags["path"] == "Path=/" and "domain" not in flags
    assert page.headers["Cache-Control"] == "no-store"


def test_plain_http_is_sent_to_https(site: Site) -> None:
    reply = site.front.fetch_plain("/en/news/?x=1")
    assert reply.status == 301
    assert reply.headers["Location"] == "https://mission.example/en/news/?x=1"


def test_public_pages_are_cached_briefly_and_private_answers_never(site: Site) -> None:
    probe = f"/en/news/?probe={secrets.token_hex(4)}"  # a cache key no other test used
    first, second = site.front.fetch(probe), site.front.fetch(probe)
    assert (first.status, second.status) == (200, 200)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.body == first.body and second.all("Strict-Transport-Security") == [HSTS]
    # A staff member's request (with a cookie) is neither served from the cache nor stored.
    assert site.front.fetch(probe, headers={"Cookie": "session=x"}).headers["X-Cache"] == "BYPASS"
    # The site marks /healthz no-store: nginx keeps nothing of it.
    assert [site.front.fetch("/healthz").headers["X-Cache"] for _ in range(2)] == ["MISS", "MISS"]


@pytest.mark.parametrize("path", ["/metrics", "/metrics?format=text", "//metrics", "/%6Detrics", "/./metrics"])
def test_metrics_are_refused_through_nginx(site: Site, path: str) -> None:
    reply = site.front.fetch(path)
    assert reply.status == 403, (path, reply.status)
    assert b"# HELP" not in reply.body
    assert reply.all("Strict-Transport-Security") == ["max-age=63072000; includeSubDomains"]  # nginx's own answer


def test_metrics_answer_the_loopback_and_the_token_from_the_credential(site: Site) -> None:
    port = site.serve.port
    assert site.front.fetch("/metrics/").status == 404  # not another way in
    local = fetch_upstream(port, "/metrics")  # Prometheus on the same host
    assert local.status == 200 and b"# HELP" in local.body
    # Through a trusted proxy from outside: only with the token systemd gave as a credential.
    outside = {"X-Forwarded-For": "198.51.100.7"}
    assert fetch_upstream(port, "/metrics", outside).status == 403
    wrong = fetch_upstream(port, "/metrics", {**outside, "Authorization": "Bearer nope"})
    assert wrong.status == 403
    right = fetch_upstream(port, "/metrics", {**outside, "Authorization": f"Bearer {METRICS_TOKEN}"})
    assert right.status == 200 and b"# HELP" in right.body


def _post_until_limited(site: Site, path: str, tries: int) -> list[int]:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return [site.front.fetch(path, method="POST", headers=form, body=b"message=hello").status for _ in range(tries)]


def test_contact_posts_are_rate_limited_but_reading_is_not(site: Site) -> None:
    statuses = _post_until_limited(site, "/ru/contact", 13)  # rate 6/min, burst 10: 11 pass
    assert 429 not in statuses[:11] and statuses[11:] == [429, 429], statuses
    limited = site.front.fetch("/ru/contact", method="POST", body=b"x")
    assert limited.status == 429 and limited.all("Strict-Transport-Security")
    assert [site.front.fetch("/ru/contact").status for _ in range(15)] == [200] * 15


def test_sign_in_posts_are_rate_limited(site: Site) -> None:
    statuses = _post_until_limited(site, "/staff/", 8)  # rate 10/min, burst 5: 6 pass
    assert 429 not in statuses[:6] and statuses[6:] == [429, 429], statuses


def test_the_test_config_is_the_shipped_file(tmp_path: Path) -> None:
    """Only addresses and paths differ between what the test runs and deploy/nginx.conf."""
    from nginxkit import SITE_CONF, Ports

    shipped = SITE_CONF.read_text()
    rendered = render_site(shipped, Ports(1080, 1443, 18080), tmp_path, tmp_path / "c.pem", tmp_path / "k.pem")
    directives = {line.split()[0] for line in shipped.splitlines() if line.strip() and not line.strip().startswith("#")}
    assert directives == {
        line.split()[0] for line in rendered.splitlines() if line.strip() and not line.strip().startswith("#")
    }
    assert shipped.count("proxy_pass http://embassy;") == rendered.count("proxy_pass http://embassy;") == 5
    with pytest.raises(AssertionError, match="no longer has"):
        render_site(shipped.replace("listen 80;", "listen 8080;"), Ports(1, 2, 3), tmp_path, tmp_path, tmp_path)
