"""The public site under test: a real config, keyring and mission database, served over real TCP.

Servers run in a background thread with their own event loop, bound to 127.0.0.1 on a free port,
and stop when their fixture ends; tests talk to them with plain http.client, as any client would.
"""

from __future__ import annotations

import asyncio
import http.client
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from conftest import make_test_keyring
from playwright.sync_api import Browser, sync_playwright

from embassy.config import Config, load_config
from embassy.content.repo import ContentRepo, Signer, TextInput
from embassy.content.version import ContentVersion, version_path
from embassy.demo import seed_content
from embassy.mission_db import MISSION_DB, connect
from embassy.web.app import create_app
from keys import Keyring

LANGUAGES = ("kk", "ru", "en", "fa")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
AXE = Path(__file__).resolve().parents[2] / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
PUBLIC_URL = "https://mission.example"
METRICS_TOKEN = "metrics-token-for-tests-0123456789"

# Persian translations for the RTL checks (the demo has kk, ru and en only).
FA_HOME = TextInput(
    "به نمایندگی مجازی خوش آمدید",
    "کمک کنسولی و اخبار برای شهروندان در خارج و برای همه علاقه‌مندان به کشور ما، هر جا که سفارتی در نزدیکی نیست.",
    "<p>نمایندگی مجازی به شهروندان و مردم کشورهای دیگر در جاهایی خدمت می‌کند که کشور ما سفارت یا کنسولگری ندارد. "
    "همه خدمات ما با اینترنت کند و بدون نرم‌افزار ویژه کار می‌کند.</p>"
    "<p>بیشتر کارهای کنسولی از اینجا آغاز می‌شود: آنچه را نیاز دارید بخوانید، مدارک خود را آماده کنید و از راه فرم تماس "
    "برای ما بنویسید.</p>",
)
FA_ABOUT = TextInput(
    "درباره نمایندگی",
    "ما که هستیم، به چه کسانی خدمت می‌کنیم و نمایندگی مجازی چگونه کار می‌کند.",
    "<p>نمایندگی مجازی یک نمایندگی دیپلماتیک کامل بدون ساختمان است.</p><h2>به چه کسانی خدمت می‌کنیم</h2>"
    "<ul><li>شهروندانی که در کشورهای بدون سفارت زندگی، تحصیل یا سفر می‌کنند.</li>"
    "<li>شهروندان خارجی که می‌خواهند از کشور ما دیدن کنند.</li></ul>",
)


@dataclass
class SiteEnv:
    root: Path
    config_path: Path
    config: Config
    ring: Keyring

    def repo(self) -> tuple[ContentRepo, ContentVersion]:
        """A writer as staff publishing or the CLI would be: its changes bump the shared version."""
        version = ContentVersion(version_path(self.config.data_dir))
        return ContentRepo(connect(self.config.data_dir / MISSION_DB), on_change=version.bump), version

    def signer(self) -> Signer:
        return Signer(self.config.mission.name, self.ring.signing_key(), self.ring.signing.id)


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


def make_site_env(root: Path, languages: tuple[str, ...] = LANGUAGES, server: str = "") -> SiteEnv:
    root.mkdir(parents=True, exist_ok=True)
    path = write_config(root, languages, server)
    config = load_config(path)
    ring = make_test_keyring(config.keyring_path, [r.name for r in config.registries])
    list(seed_content(config, ring))
    env = SiteEnv(root, path, config, ring)
    if "fa" in languages:
        repo, version = env.repo()
        repo.put_page_text("home", "fa", FA_HOME)
        repo.put_page_text("about", "fa", FA_ABOUT)
        repo.conn.close()
        version.close()
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
        runner = web.AppRunner(self.app, access_log=None)
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
    with ServerThread(create_app(site_env.config, site_env.ring, metrics_token=METRICS_TOKEN)) as s:
        yield s


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
