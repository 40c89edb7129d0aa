"""The public site under test: a real config, keyring and mission database, served over real TCP.

Servers run in a background thread with their own event loop, bound to 127.0.0.1 on a free port,
and stop when their fixture ends; tests talk to them with plain http.client, as any client would.
"""

from __future__ import annotations

import asyncio
import http.client
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from conftest import make_test_keyring
from playwright.sync_api import Browser, Page, sync_playwright

from embassy.config import Config, load_config
from embassy.content.statements import Signer
from embassy.content.version import ContentVersion, version_path
from embassy.demo import seed_content
from embassy.mission_db import MISSION_DB, connect
from embassy.publishing import store
from embassy.publishing.fields import Draft
from embassy.publishing.rules import Actor
from embassy.publishing.workflow import Outcome, Workflow
from embassy.web.app import CONFIG_KEY, create_app
from embassy.web.protocol import site_runner
from keys import Keyring

LANGUAGES = ("kk", "ru", "en", "fa")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
AXE = Path(__file__).resolve().parents[2] / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
PUBLIC_URL = "https://mission.example"
METRICS_TOKEN = "metrics-token-for-tests-0123456789"

# Persian translations for the RTL checks (the demo has kk, ru and en only).
FA_HOME = Draft(
    "به نمایندگی مجازی خوش آمدید",
    "کمک کنسولی و اخبار برای شهروندان در خارج و برای همه علاقه‌مندان به کشور ما، هر جا که سفارتی در نزدیکی نیست.",
    "<p>نمایندگی مجازی به شهروندان و مردم کشورهای دیگر در جاهایی خدمت می‌کند که کشور ما سفارت یا کنسولگری ندارد. "
    "همه خدمات ما با اینترنت کند و بدون نرم‌افزار ویژه کار می‌کند.</p>"
    "<p>بیشتر کارهای کنسولی از اینجا آغاز می‌شود: آنچه را نیاز دارید بخوانید، مدارک خود را آماده کنید و از راه فرم تماس "
    "برای ما بنویسید.</p>",
)
FA_ABOUT = Draft(
    "درباره نمایندگی",
    "ما که هستیم، به چه کسانی خدمت می‌کنیم و نمایندگی مجازی چگونه کار می‌کند.",
    "<p>نمایندگی مجازی یک نمایندگی دیپلماتیک کامل بدون ساختمان است.</p><h2>به چه کسانی خدمت می‌کنیم</h2>"
    "<ul><li>شهروندانی که در کشورهای بدون سفارت زندگی، تحصیل یا سفر می‌کنند.</li>"
    "<li>شهروندان خارجی که می‌خواهند از کشور ما دیدن کنند.</li></ul>",
)


WRITER = Actor("test.writer", frozenset({"editor"}))
REVIEWER = Actor("test.reviewer", frozenset({"publisher"}))


@dataclass
class SiteEnv:
    root: Path
    config_path: Path
    config: Config
    ring: Keyring

    def publish(self, kind: str, lang: str, draft: Draft, *, slug: str | None = None, item: str | None = None,
                **settings: object) -> Outcome:  # fmt: skip
        """Write, review and publish one edition through the workflow, as two staff members would:
        a new item (``slug``), or a new edition of ``item`` (an existing item, found by slug if not given)."""
        version = ContentVersion(version_path(self.config.data_dir))
        conn = connect(self.config.data_dir / MISSION_DB)
        try:
            flow = Workflow(conn, self.signer(), self.config.mission.languages, on_change=version.bump)
            if item is None and slug is not None and (found := store.item_by_slug(conn, kind, slug)) is not None:
                item = found.id
            if item is None:
                item = flow.create(WRITER, kind, lang, draft, slug=slug, **settings).id  # type: ignore[arg-type]
            else:
                flow.new_edition(WRITER, item, lang, draft)
            flow.submit(WRITER, item, lang)
            flow.approve(REVIEWER, item, lang)
            return flow.publish(REVIEWER, item, lang)
        finally:
            conn.close()
            version.close()

    def signer(self) -> Signer:
        keys = self.ring.serving_keys()
        return Signer(self.config.mission.name, keys.statement_signing_key(), keys.statement_key_id)


def write_config(root: Path, languages: tuple[str, ...] = LANGUAGES, server: str = "") -> Path:
    langs = ", ".join(f'"{lg}"' for lg in languages)
    path = root / "embassy.toml"
    path.write_text(
        f'[mission]\nname = "Test Virtual Mission"\nlanguages = [{langs}]\ndata_dir = "var"\njurisdiction = "KZ"\n\n'
        f'[server]\npublic_url = "{PUBLIC_URL}"\n{server}\n'
        '[[registries]]\nname = "mission-site"\nkind = "sqlite"\npath = "var/mission.db"\n\n'
        '[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "var/stores/lu"\njurisdiction = "LU"\n',
        encoding="utf-8",
    )
    return path


def make_site_env(root: Path, languages: tuple[str, ...] = LANGUAGES, server: str = "", *, seed: bool = True) -> SiteEnv:
    """A mission with the demo content (written, reviewed and published through the workflow, so
    its audit log holds those steps), unless ``seed`` is False."""
    root.mkdir(parents=True, exist_ok=True)
    path = write_config(root, languages, server)
    config = load_config(path)
    ring = make_test_keyring(config.keyring_path, [r.name for r in config.registries])
    if seed:
        list(seed_content(config, ring))
    else:
        connect(config.data_dir / MISSION_DB).close()
    env = SiteEnv(root, path, config, ring)
    if "fa" in languages:
        env.publish("page", "fa", FA_HOME, slug="home")
        env.publish("page", "fa", FA_ABOUT, slug="about")
    return env


class ServerThread:
    """A real aiohttp server on 127.0.0.1:<free port> in its own thread and event loop."""

    def __init__(self, app: web.Application, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="site-server", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the test server did not start within 30 s")
        if self._error:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the test server did not stop"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = site_runner(self.app, self.app[CONFIG_KEY].server)  # the connection layer `embassy serve` uses
        try:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", self.port)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        except BaseException as e:
            self._error = e
            self._ready.set()
            await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()


@dataclass
class Resp:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def fetch(
    base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> Resp:
    """One request on a fresh connection; no redirects followed, no decompression."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Resp(r.status, r.headers, r.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def site_env(tmp_path_factory: pytest.TempPathFactory) -> SiteEnv:
    return make_site_env(
        tmp_path_factory.mktemp("site"),
        server='trusted_proxies = ["127.0.0.1"]\nmetrics_token_env = "TEST_METRICS_TOKEN"\n',
    )


@pytest.fixture(scope="module")
def server(site_env: SiteEnv) -> Iterator[ServerThread]:
    with ServerThread(create_app(site_env.config, site_env.ring.serving_keys(), metrics_token=METRICS_TOKEN)) as s:
        yield s


@dataclass
class RawResp:
    """A response read off a raw socket, as sent: status, headers in order, body, and whether the
    server then closed the connection."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    closed: bool

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


def read_until_eof(sock: socket.socket, limit: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes the connection, waiting at most ``limit``
    seconds in all; returns (bytes, closed)."""
    deadline = time.monotonic() + limit
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def parse_raw(data: bytes, closed: bool) -> RawResp:
    """The final response (after any interim ``100 Continue``)."""
    head, _, body = data.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 1") and body.startswith(b"HTTP/"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return RawResp(status, headers, body, closed)


def raw_exchange(port: int, data: bytes, limit: float = 10.0) -> RawResp:
    """Send ``data`` as is on a new connection (half-closing nothing) and read the answer until
    the server closes; for requests no well-behaved client library would send."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        sock.sendall(data)
        answer, closed = read_until_eof(sock, limit)
    assert answer, "the server sent nothing"
    return parse_raw(answer, closed)
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium through playwright (never a downloaded browser), for one test module."""
    assert shutil.which("chromium") or Path(CHROMIUM).exists(), "Debian chromium is missing: run `make test`"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def axe_serious(pg: Page) -> list[str]:
    """axe-core's serious and critical WCAG 2.x A/AA violations on the page ``pg`` shows (its
    context needs ``bypass_csp=True`` so that axe can be injected)."""
    assert AXE.exists(), f"{AXE} is missing: run `make test` (it installs axe-core)"
    pg.add_script_tag(path=str(AXE))
    result = pg.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', "
        "'wcag22aa', 'best-practice']}})"
    )
    assert result["passes"], "axe ran no checks"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
