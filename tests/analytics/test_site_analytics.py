"""Analytics without personal data: counts per page/language/day, daily uniques by a forgotten salt, bots apart."""

import json
import os
import sqlite3
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import run_cli
from web.conftest import ServerThread, fetch, make_site_env

from embassy.analytics import db
from embassy.analytics.salt import DailySalt
from embassy.web.app import create_app

HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
OTHER_HUMAN = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_views_uniques_and_bots_are_counted_apart(tmp_path: Path) -> None:
    env = make_site_env(tmp_path / "m", languages=("kk", "ru", "en"), server='trusted_proxies = ["127.0.0.1"]\n')
    with ServerThread(create_app(env.config, env.ring.serving_keys())) as s:

        def visit(path: str, ua: str, ip: str) -> int:
            return fetch(s.url, path, headers={"User-Agent": ua, "X-Forwarded-For": ip}).status

        assert visit("/en/", HUMAN, "203.0.113.1") == 200
        assert visit("/en/", HUMAN, "203.0.113.1") == 200  # same visitor again: a view, not a new visitor
        assert visit("/en/pages/visa", HUMAN, "203.0.113.1") == 200
        assert visit("/ru/", OTHER_HUMAN, "203.0.113.2") == 200
        assert visit("/en/search?q=secret+words", HUMAN, "203.0.113.2") == 200
        assert visit("/en/", BOT, "203.0.113.3") == 200
        assert visit("/en/pages/no-such-page", HUMAN, "203.0.113.1") == 404  # not a view
        assert visit("/feed/en.atom", HUMAN, "203.0.113.1") == 200  # not a page view
    # the server wrote its buffered counts when it stopped
    svg = tmp_path / "daily.svg"
    r = run_cli("--config", str(env.config_path), "analytics", "--json", "--days", "3", "--chart", str(svg))
    assert r.code == 0, r.err
    report = json.loads(r.out)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert [d["day"] for d in report["days"]][-1] == today and len(report["days"]) == 3
    assert report["days"][-1] == {"day": today, "views": 5, "uniques": 3, "bot_views": 1, "bot_uniques": 1}
    en = {p["page"]: (p["views"], p["bot_views"]) for p in report["top_pages"]["en"]}
    assert en == {"": (2, 1), "pages/visa": (1, 0), "search": (1, 0)}
    assert report["top_pages"]["ru"] == [{"page": "", "lang": "ru", "views": 1, "bot_views": 0}]
    # the chart is a standalone SVG with a text alternative
    root = ET.fromstring(svg.read_text(encoding="utf-8"))  # noqa: S314 - our own file
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("role") == "img"
    assert root.find("{http://www.w3.org/2000/svg}desc").text.startswith("5 page views, 3 daily unique visitors")
    assert "<script" not in svg.read_text(encoding="utf-8")
    # nothing personal was stored: no address, no user agent, no query
    folder = env.config.data_dir / "analytics"
    stored = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.parent.name != "salt")
    for needle in (b"203.0.113", b"Mozilla", b"Googlebot", b"secret", b"iPhone"):
        assert needle not in stored
    salts = list((folder / "salt").iterdir())
    assert [p.name for p in salts] == [today]
    assert salts[0].stat().st_mode & 0o777 == 0o600
    # the salt is not in the replicated database
    assert salts[0].read_bytes() not in (env.config.data_dir / "mission.db").read_bytes()
    human = run_cli("--config", str(env.config_path), "analytics")
    assert human.code == 0 and "top pages in en:" in human.out and "/en/pages/visa" in human.out


def test_the_daily_salt_is_shared_and_forgotten(tmp_path: Path) -> None:
    folder = tmp_path / "salt"
    worker_a, worker_b = DailySalt(folder), DailySalt(folder)
    yesterday = worker_a.for_day("2026-11-26")
    assert worker_b.for_day("2026-11-26") == yesterday and len(yesterday) == 32
    today = worker_b.for_day("2026-11-27")
    assert today != yesterday
    assert sorted(p.name for p in folder.iterdir()) == ["2026-11-27"]  # yesterday's salt is gone
    assert worker_a.for_day("2026-11-27") == today


def test_finished_days_keep_only_a_count(tmp_path: Path) -> None:
    conn = db.connect(tmp_path)
    visitors = {("2026-11-26", False): {os.urandom(16) for _ in range(3)}, ("2026-11-27", False): {b"x" * 16}}
    db.write_counts(conn, {("2026-11-26", "", "en", False): 4}, visitors, today="2026-11-27")
    assert conn.execute("SELECT day, bot, uniques FROM daily_visitors").fetchall() == [("2026-11-26", 0, 3)]
    assert conn.execute("SELECT day FROM visitors").fetchall() == [("2026-11-27",)]
    db.write_counts(conn, {("2026-11-26", "", "en", False): 1}, {}, today="2026-11-27")
    assert conn.execute("SELECT views FROM views").fetchall() == [(5,)]
    conn.close()
    assert isinstance(sqlite3.connect(tmp_path / "analytics" / "analytics.db"), sqlite3.Connection)
