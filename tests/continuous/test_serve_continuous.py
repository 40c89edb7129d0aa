"""`embassy serve` with `interval = "5s"`, over real HTTP, real SQLite and real stores (two folders and
a SeaweedFS S3 store): a changed registry gets a new snapshot within about an interval, an unchanged
one gets none however many intervals pass, and a registry whose dump hangs delays no other one.

The slow registry is a command that blocks on a named pipe until the test writes to it. Every wait
is for a condition the server makes true (a snapshot in the stores, a figure in its published
document), with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PASSPHRASE
from dev_stores import DevStore

from continuous.servekit import Server, release, serving_three_stores, wait_for

SLOW_DUMP = """\
import sys
with open(sys.argv[1], "rb") as gate:  # blocks until the test opens the pipe for writing
    gate.read()
sys.stdout.write("slow dump\\n")
"""


def commit(db: Path, value: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO notes (body) VALUES (?)", (value,))
        conn.commit()
    finally:
        conn.close()


def new_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}" * 20,) for i in range(500)])
    conn.commit()
    conn.close()


@pytest.fixture
def server(tmp_path: Path, seaweed: list[DevStore]) -> Iterator[Server]:
    root = tmp_path
    (root / "db").mkdir()
    new_database(root / "db" / "busy.db")
    new_database(root / "db" / "still.db")
    (root / "files").mkdir()
    (root / "files" / "people.csv").write_text("id,name\n1,Aigerim\n")
    gate = root / "gate"
    os.mkfifo(gate)
    (root / "slow.py").write_text(SLOW_DUMP)
    head = (
        '[mission]\nname = "Continuous Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
        '[server]\nlog_format = "json"\n'
        '[[registries]]\nname = "busy"\nkind = "sqlite"\npath = "db/busy.db"\n'
        '[[registries]]\nname = "still"\nkind = "sqlite"\npath = "db/still.db"\n'
        '[[registries]]\nname = "files"\nkind = "directory"\npath = "files"\n'
        f'[[registries]]\nname = "slow"\nkind = "command"\ncommand = ["{sys.executable}", "{root / "slow.py"}", '
        f'"{gate}"]\nevery = "5s"\n'
    )
    with serving_three_stores(root, seaweed, head, gate) as srv:
        yield srv


def test_changed_registries_are_snapshotted_within_an_interval_unchanged_ones_never_and_a_hung_dump_delays_none(
    server: Server,
) -> None:
    # First rounds: each checkable registry gets its first snapshot while the slow dump hangs.
    for name in ("busy", "still", "files"):
        wait_for(f"the first snapshot of {name}", lambda n=name: server.registry(n).get("snapshots") == 1, 60)  # type: ignore[misc]
    slow = server.registry("slow")
    assert slow["snapshots"] == 0 and slow["last_round"] is None, slow
    assert [len(server.snapshots(n)) for n in ("busy", "still", "files", "slow")] == [1, 1, 1, 0]
    held = server.snapshots("busy")[0]["stores"]
    assert sorted(held) == ["ch", "ee", "lu"]

    # A commit to busy is a new snapshot within about an interval; still and files get none.
    wait_for("a round finding busy unchanged", lambda: server.registry("busy").get("last_outcome") == "unchanged", 30)
    assert server.registry("busy")["snapshots"] == 1
    committed = time.monotonic()
    commit(server.root / "db" / "busy.db", "a change")
    wait_for("busy's second snapshot", lambda: server.registry("busy").get("snapshots") == 2, 30)
    took = time.monotonic() - committed
    assert took < 12, f"a change took {took:.1f} s to be snapshotted with a 5 s interval"
    assert len(server.snapshots("busy")) == 2

    # Several more intervals: the unchanged registries are checked each time, never snapshotted.
    def unchanged_rounds(name: str) -> float:
        for line in server.metrics().splitlines():
            if line.startswith(f'embassy_replication_rounds_total{{outcome="unchanged",registry="{name}"}}'):
                return float(line.split()[-1])
        return 0.0

    wait_for("four unchanged rounds of still", lambda: unchanged_rounds("still") >= 4, 40)
    assert unchanged_rounds("files") >= 3
    assert [len(server.snapshots(n)) for n in ("still", "files")] == [1, 1]
    assert server.registry("still")["snapshots"] == 1 and server.registry("still")["last_outcome"] == "unchanged"
    # Its recovery point follows the checks: the RPO of an unchanged registry stays about an interval.
    assert server.registry("still")["rpo_seconds"] < 12

    # The hung dump has held up nobody; released, it is snapshotted too.
    assert server.registry("slow")["snapshots"] == 0
    assert server.gate is not None
    release(server.gate)
    wait_for("the slow registry's snapshot", lambda: server.registry("slow").get("snapshots") == 1, 30)
    assert len(server.snapshots("slow")) == 1

    # /metrics, answered by a worker, carries the supervisor's figures for the whole server.
    text = server.metrics()
    for store in ("lu", "ee", "ch"):
        assert f'embassy_replication_last_snapshot_timestamp_seconds{{registry="busy",store="{store}"}}' in text
        assert f'embassy_replication_last_snapshot_age_seconds{{registry="busy",store="{store}"}}' in text
        uploaded = [ln for ln in text.splitlines()
                    if ln.startswith(f'embassy_replication_uploaded_bytes_total{{registry="busy",store="{store}"}}')]  # fmt: skip
        assert uploaded and float(uploaded[0].split()[-1]) > 0, uploaded
    assert 'embassy_replication_backup_duration_seconds_count{registry="busy"} 2.0' in text
    assert 'embassy_replication_store_up{store="ch"} 1.0' in text
    assert 'embassy_http_requests_total' in text  # the workers' own metrics beside them

    # The server's log lines, supervisor's and workers' alike: each one JSON object, no secret in any.
    assert server.stop() == 0
    lines = [ln for ln in server.log().splitlines() if ln.strip()]
    events = [json.loads(ln) for ln in lines]  # raises on any line that is not JSON
    assert all(set(e) >= {"time", "level", "logger", "pid", "message"} for e in events)
    busy = [int(m.group(1)) for e in events if (m := re.match(r"backup of busy: snapshot \w+, (\d+) bytes read", e["message"]))]
    # The first round read the whole database; the second, through the WAL tracker, only its changed blocks.
    assert len(busy) == 2 and 0 < busy[1] < busy[0], busy
    assert len({e["pid"] for e in events}) >= 1
    text = "\n".join(lines)
    for secret in (PASSPHRASE, server.env["TEST_S3_SECRET"], server.env["TEST_S3_ACCESS"]):
        assert secret not in text
