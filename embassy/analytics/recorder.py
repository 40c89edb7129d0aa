"""Counting page views in a worker: in memory on the request path, written to the database every few seconds."""

import hashlib
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path

from embassy.analytics import db
from embassy.analytics.salt import DailySalt

BOT_RE = re.compile(
    r"bot|crawl|spider|slurp|archiver|fetch|scan|monitor|preview|facebookexternalhit|curl|wget|python|"
    r"go-http|java/|okhttp|libwww|httpclient|axios|node-fetch|headless|lighthouse|phantom|wrk|apache-bench",
    re.IGNORECASE,
)


def is_bot(user_agent: str) -> bool:
    return not user_agent or BOT_RE.search(user_agent) is not None


class ViewRecorder:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.salt = DailySalt(db.analytics_dir(data_dir) / "salt")
        self._views: Counter[tuple[str, str, str, bool]] = Counter()
        self._visitors: dict[tuple[str, bool], set[bytes]] = {}
        self._day_number = -1
        self._day = ""
        self._key = b""
        self._bot_cache: dict[str, bool] = {}
        self._conn: sqlite3.Connection | None = None

    def _today(self) -> str:
        number = int(time.time() // 86400)
        if number != self._day_number:
            self._day = time.strftime("%Y-%m-%d", time.gmtime(number * 86400))
            self._key = self.salt.for_day(self._day)
            self._day_number = number
        return self._day

    def record(self, page: str, lang: str, client: str, user_agent: str) -> None:
        """Count one view. Only a salted hash of the visitor is kept, and only until the day ends."""
        day = self._today()
        bot = self._bot_cache.get(user_agent)
        if bot is None:
            bot = is_bot(user_agent)
            if len(self._bot_cache) > 2048:
                self._bot_cache.clear()
            if len(user_agent) <= 512:
                self._bot_cache[user_agent] = bot
        self._views[(day, page, lang, bot)] += 1
        visitor = hashlib.blake2b(
            client.encode() + b"\x00" + user_agent.encode("utf-8", "replace"), key=self._key, digest_size=16
        ).digest()
        bucket = self._visitors.get((day, bot))
        if bucket is None:
            bucket = self._visitors[(day, bot)] = set()
        bucket.add(visitor)

    def take(self) -> tuple[dict[tuple[str, str, str, bool], int], dict[tuple[str, bool], set[bytes]]]:
        views, visitors = dict(self._views), self._visitors
        self._views = Counter()
        self._visitors = {}
        return views, visitors

    def flush_sync(
        self, views: dict[tuple[str, str, str, bool], int], visitors: dict[tuple[str, bool], set[bytes]]
    ) -> None:
        """Write taken counts (call from a thread, never the event loop)."""
        if self._conn is None:
            self._conn = db.connect(self.data_dir)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        db.write_counts(self._conn, views, visitors, today)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
