"""A backup running while prune runs again and again loses nothing.

The backup's registry is a dump that writes more than a pack's worth, then pauses for seconds:
its first pack is in the stores, not yet listed by any manifest. Prune runs in a loop from that
moment, with no grace period, so to it that pack looks unreferenced: only the store locks keep
prune from deleting it. Without them this test fails (the snapshot's pack is gone).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from dev_stores import DevStore
from prunekit import SLOW, build, same_files


def test_a_backup_while_prune_loops_leaves_its_snapshot_restorable(seaweed: list[DevStore], tmp_path: Path) -> None:
    m = build(tmp_path, seaweed, keep="last = 1, daily = 0, weekly = 0, monthly = 0", slow=True)
    first = m.backup(SLOW)["id"]
    written = m.root / "registries" / "slow.copy.written"
    written.unlink()
    (m.root / "registries" / "slow.conf").write_text("1 3")  # one piece, then 3 s before the end
    stop = threading.Event()
    prunes: list[tuple[float, float, int, str]] = []

    def prune_loop() -> None:
        while not written.exists() and not stop.is_set():
            time.sleep(0.05)
        time.sleep(0.5)  # the piece is cut, sealed and uploaded
        while not stop.is_set():
            began = time.monotonic()
            r = m.cli("prune", "--json", "--grace", "0", "--wait", "60s")
            prunes.append((began, time.monotonic(), r.code, r.err))

    loop = threading.Thread(target=prune_loop)
    loop.start()
    try:
        began = time.monotonic()
        sid = m.backup(SLOW, cli=True)["id"]  # another process, as a user would start it
        ended = time.monotonic()
    finally:
        stop.set()
        loop.join(timeout=120)
    assert prunes and all(code == 0 for _, _, code, _ in prunes), [err for _, _, code, err in prunes if code]
    assert [p for p in prunes if p[0] < ended and began < p[1]], "no prune ran during the backup: it proved nothing"

    doc = m.prune("--grace", "0")
    assert [k["id"] for k in doc["registries"][SLOW]["kept"]] == [sid]
    assert not any(first in k for k in m.keys("lu"))
    packs = {s: {k for k in m.keys(s) if "/packs/" in k} for s in ("lu", "ee", "ch")}
    assert packs["lu"] == packs["ee"] == packs["ch"] and len(packs["lu"]) >= 3
    # From one store alone (restore would otherwise fetch a missing pack from another store); the
    # others hold the same packs.
    target = tmp_path / "out"
    r = m.cli("restore", sid, "--registry", SLOW, "--target", str(target), "--store", "ee", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["id"] == sid
    assert same_files(target, m.states[sid])
