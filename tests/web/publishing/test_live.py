"""Live everywhere: on two real worker processes (the code `embassy serve` runs, each on a port of its
own so each can be asked), a publication through one is on every worker's pages, feed, sitemap and
search within a second; a scheduled edition is published on time by the workers themselves, with no
request to trigger it, exactly once."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import PASSPHRASE

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root: bench/ is not installed

from bench.publish import Api, Worker, approved_items, staff_token, start_workers, visible_after
from web.conftest import SiteEnv, fetch, make_site_env
from web.staff.staffkit import close, conns


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteEnv, list[Worker], str]]:
    env = make_site_env(tmp_path_factory.mktemp("live"), languages=("en", "ru"))
    token = staff_token(env.config_path, "live.publisher", ["publisher"])
    workers = start_workers(env.config_path, PASSPHRASE, 2, env.root / "workers.log")
    try:
        yield env, workers, token
    finally:
        for w in workers:
            w.stop()


def test_a_publication_is_on_every_worker_within_a_second(two_workers: tuple[SiteEnv, list[Worker], str]) -> None:
    env, workers, token = two_workers
    items = approved_items(env.config_path, PASSPHRASE, 5, "Live")
    for w in workers:  # each worker has the news list cached before the change
        assert fetch(w.url, "/en/news/").status == 200
    seconds = [visible_after(Api(workers[0], token), workers, item, title, limit=5.0) for item, title in items]
    assert max(seconds) < 1.0, seconds
    slug_title = items[-1][1]
    for w in workers:
        assert slug_title in fetch(w.url, "/feed/en.atom").text
        assert slug_title.lower().replace(" ", "-") in fetch(w.url, "/sitemap.xml").text
        assert slug_title in fetch(w.url, "/en/search?q=" + slug_title.split()[-1]).text


def test_a_scheduled_edition_is_published_on_time_exactly_once(two_workers: tuple[SiteEnv, list[Worker], str]) -> None:
    env, workers, token = two_workers
    (item, title), = approved_items(env.config_path, PASSPHRASE, 1, "Scheduled")
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    done = Api(workers[1], token).publish(item, at=at.isoformat().replace("+00:00", "Z"))
    assert done["state"] == "scheduled" and done["statement"] is None
    assert title not in fetch(workers[0].url, "/en/news/").text
    # no request reaches the site until it is published: the event is watched in the database (bounded)
    c = conns(env.config.data_dir)
    try:
        deadline = time.monotonic() + 10
        query = "SELECT state FROM edition WHERE item = ?"
        while c.mission.execute(query, (item,)).fetchone()[0] != "published" and time.monotonic() < deadline:
            c.mission.execute("SELECT 1")  # a fresh read each turn (WAL: the workers' commit shows)
        late = datetime.now(UTC) - at
        assert c.mission.execute(query, (item,)).fetchone()[0] == "published", "not published within 10 s"
        assert late < timedelta(seconds=2), late
        assert all(title in fetch(w.url, "/en/news/").text for w in workers)
        publishes = [json.loads(d) for (d,) in c.mission.execute(
            "SELECT detail FROM audit_log WHERE action = 'edition.publish' ORDER BY seq")]  # fmt: skip
        statements = c.mission.execute("SELECT count(*) FROM statement WHERE item = ?", (item,)).fetchone()[0]
        state, published = c.mission.execute("SELECT state, published FROM edition WHERE item = ?", (item,)).fetchone()
    finally:
        close(c)
    ours = [p for p in publishes if p["item"] == item]
    assert len(ours) == 1 and ours[0]["scheduled"] is True and statements == 1, (ours, statements)
    assert state == "published" and published >= at.isoformat().replace("+00:00", "Z")
