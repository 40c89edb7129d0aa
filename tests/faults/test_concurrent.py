"""Two `embassy backup` processes and a server's continuous rounds at once, on the same registries
and stores (two folders and a real SeaweedFS bucket): all safe. Each command either goes ahead or
says it waits for the other (the one documented line) and then goes on; nothing fails; the
stores verify clean (verify checks each registry's chain)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from continuous.servekit import Server, serving_three_stores, wait_for
from stores.storekit import DevStore

from faults.crashkit import random_files

WAITS = "waiting for it to finish"


@pytest.fixture
def server(tmp_path: Path, seaweed: list[DevStore]) -> Iterator[Server]:
    root = tmp_path
    random_files(root / "files", 8, 4 << 20)  # long enough for the rounds to overlap
    db = sqlite3.connect(root / "db.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    db.executemany("INSERT INTO t (body) VALUES (?)", ((os.urandom(500),) for _ in range(20_000)))
    db.commit()
    db.close()
    head = (
        '[mission]\nname = "Concurrent Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
        '[server]\nlog_format = "json"\n'
        '[[registries]]\nname = "files"\nkind = "directory"\npath = "files"\n'
        '[[registries]]\nname = "db"\nkind = "sqlite"\npath = "db.sqlite"\n'
    )
    with serving_three_stores(root, seaweed, head) as srv:
        yield srv


def backup(srv: Server) -> subprocess.Popen[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}, **srv.env}
    return subprocess.Popen(
        [sys.executable, "-m", "embassy", "backup", "--json"],
        cwd=srv.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_two_backups_and_the_servers_rounds_at_once_are_all_safe(
    server: Server, record_fault: Callable[..., None]
) -> None:
    with sqlite3.connect(server.root / "db.sqlite") as db:  # a change while everything runs
        db.execute("INSERT INTO t (body) VALUES (?)", (b"during",))
    first, second = backup(server), backup(server)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    waited = 0
    for proc, (out, err) in zip((first, second), outs, strict=True):
        assert proc.returncode == 0, err
        for line in err.splitlines():  # the summary, and at most that it waits: no error, no warning
            assert not any(w in line.lower() for w in ("error", "fail", "warning", "traceback")), err
            waited += WAITS in line and "another backup of" in line
        snaps = json.loads(out)["snapshots"]
        assert sorted(s["registry"] for s in snaps) == ["db", "files"]
        assert all(s["quorum_met"] for s in snaps), snaps
    assert waited >= 1  # they did meet: the later one said it waits
    # The server goes on with its rounds meanwhile and after: a change is snapshotted again.
    # Counted before the change: a round may take it before the count would otherwise be read.
    held = len(server.snapshots("db"))
    with sqlite3.connect(server.root / "db.sqlite") as db:
        db.execute("INSERT INTO t (body) VALUES (?)", (b"after",))
    wait_for("a server round snapshotting the change", lambda: len(server.snapshots("db")) > held, 60)
    assert server.stop() == 0
    log = server.log()
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if '"ERROR"' in line or '"error"' in line.lower()]
    assert errors == [], errors
    for name in ("db", "files"):  # the server's first round and the two commands': at least two each
        assert len(server.snapshots(name)) >= 2
    verify = subprocess.run(
        [sys.executable, "-m", "embassy", "verify", "--json"],
        cwd=server.root, env={**{k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}, **server.env},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # The two commands' snapshots, both registries each (the server's rounds are not counted).
    record_fault("two backups and the server's rounds at once", 4, 4, 0, None)
