"""What the public reads: daily counts and top pages per language, from the analytics database."""

import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from embassy.analytics import db


@dataclass(frozen=True, slots=True)
class Day:
    day: str
    views: int
    uniques: int
    bot_views: int
    bot_uniques: int


@dataclass(frozen=True, slots=True)
class PageCount:
    page: str
    lang: str
    views: int
    bot_views: int


@dataclass(frozen=True, slots=True)
class Report:
    since: str
    until: str
    days: list[Day]
    top_pages: dict[str, list[PageCount]]  # per language
    views: list[dict[str, Any]]  # every (day, page, lang) row

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "days": [asdict(d) for d in self.days],
            "top_pages": {lang: [asdict(p) for p in pages] for lang, pages in self.top_pages.items()},
            "views": self.views,
        }


def build_report(data_dir: Path, days: int = 30, top: int = 10) -> Report:
    """Counts of the last ``days`` UTC days (today included); every day appears, zeros too."""
    now = time.time()
    day_list = [time.strftime("%Y-%m-%d", time.gmtime(now - i * 86400)) for i in range(days - 1, -1, -1)]
    since, until = day_list[0], day_list[-1]
    if not (db.analytics_dir(data_dir) / "analytics.db").exists():
        empty = [Day(d, 0, 0, 0, 0) for d in day_list]
        return Report(since, until, empty, {}, [])
    conn = db.connect(data_dir)
    try:
        return _query(conn, day_list, top)
    finally:
        conn.close()


def _query(conn: sqlite3.Connection, day_list: list[str], top: int) -> Report:
    since, until = day_list[0], day_list[-1]
    per_day: dict[str, dict[str, int]] = {
        d: {"views": 0, "uniques": 0, "bot_views": 0, "bot_uniques": 0} for d in day_list
    }
    for day, bot, n in conn.execute(
        "SELECT day, bot, sum(views) FROM views WHERE day BETWEEN ? AND ? GROUP BY day, bot", (since, until)
    ):
        per_day[day]["bot_views" if bot else "views"] = n
    for table, col in (("daily_visitors", "uniques"), ("visitors", "count(*)")):
        for day, bot, n in conn.execute(
            f"SELECT day, bot, {'sum(uniques)' if col == 'uniques' else col} FROM {table} "  # noqa: S608 - fixed names
            "WHERE day BETWEEN ? AND ? GROUP BY day, bot",
            (since, until),
        ):
            per_day[day]["bot_uniques" if bot else "uniques"] += n
    rows = [
        {"day": d, "page": p, "lang": lang, "views": v, "bot_views": b}
        for d, p, lang, v, b in conn.execute(
            "SELECT day, page, lang, sum(CASE WHEN bot = 0 THEN views ELSE 0 END), "
            "sum(CASE WHEN bot = 1 THEN views ELSE 0 END) FROM views WHERE day BETWEEN ? AND ? "
            "GROUP BY day, page, lang ORDER BY day, lang, page",
            (since, until),
        )
    ]
    totals: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        t = totals.setdefault((r["lang"], r["page"]), [0, 0])
        t[0] += r["views"]
        t[1] += r["bot_views"]
    top_pages: dict[str, list[PageCount]] = {}
    for (lang, page), (v, b) in totals.items():
        top_pages.setdefault(lang, []).append(PageCount(page, lang, v, b))
    for lang in top_pages:
        top_pages[lang] = sorted(top_pages[lang], key=lambda p: (-p.views, -p.bot_views, p.page))[:top]
    days = [Day(d, **per_day[d]) for d in day_list]
    return Report(since, until, days, dict(sorted(top_pages.items())), rows)
