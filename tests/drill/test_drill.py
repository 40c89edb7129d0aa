"""Restore drills, their history and report, and `embassy status`: real CLI, real SeaweedFS stores.

One mission (three stores lu/ee/ch, registries of every kind) is backed up once for the module;
tests that damage something put it back before they end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PASSPHRASE, s3_store_toml
from engine.conftest import MTIME_NS, Mission, build_mission, closed_port

from keys import Keyring
from replication.fsutil import FS_TOPDIR_FL, inode_flags, spread_subfolders
from replication.repository import tag_for


@pytest.fixture(scope="module")
def mission(tmp_path_factory: pytest.TempPathFactory, seaweed) -> Mission:  # type: ignore[no-untyped-def]
    return build_mission(tmp_path_factory.mktemp("drill"), seaweed)


@pytest.fixture(scope="module")
def snapshots(mission: Mission) -> dict[str, dict]:
    """The module's one backup: each registry's snapshot as `embassy backup --json` gave it."""
    r = mission.cli("backup", "--json")
    assert r.code == 0, r.err
    return {s["registry"]: s for s in json.loads(r.out)["snapshots"]}


def with_dead_store(mission: Mission, seaweed) -> Path:  # type: ignore[no-untyped-def]
    """The mission's config plus a store abroad whose endpoint is a closed port."""
    text = mission.config.read_text()
    before, after = text.split("[[stores]]", 1)
    dead = s3_store_toml("dead", seaweed[0], "gone", "NO").replace(
        seaweed[0].endpoint, f"http://127.0.0.1:{closed_port()}"
    )
    config = mission.root / "with-dead-store.toml"
    config.write_text(before + dead + "\n[[stores]]" + after)
    return config


def drill_json(mission: Mission, *args: str) -> tuple[int, dict, str]:
    r = mission.cli("drill", "--json", *args)
    assert r.out, r.err
    return r.code, json.loads(r.out), r.err


def history_rows(mission: Mission) -> int:
    db = mission.root / "var" / "mission.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM drill_history").fetchone()[0])


def scratch_left(mission: Mission) -> list[str]:
    tmp = mission.root / "var" / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def by_key(doc: dict) -> dict[tuple[str, str], dict]:
    return {(r["store"], r["registry"]): r for r in doc["results"]}


def test_drill_of_every_store_passes_compares_and_is_recorded(
    mission: Mission, snapshots: dict[str, dict], tmp_path: Path
) -> None:
    before = history_rows(mission)
    report = tmp_path / "drill.html"
    code, doc, err = drill_json(mission, "--report", str(report))
    assert code == 0, err
    assert doc["ok"] is True
    results = by_key(doc)
    # per store: the span of its registries' side-by-side restores, at least the longest of them
    for name in ("lu", "ee", "ch"):
        longest = max(r["seconds"] for (s, _), r in results.items() if s == name)
        assert doc["stores"][name]["ok"] is True
        assert longest <= doc["stores"][name]["rto_seconds"] + 0.002 < 60
    assert set(results) == {(s, r) for s in ("lu", "ee", "ch") for r in ("population", "cadastre", "civil-dump")}
    for (_, registry), res in results.items():
        assert {"store", "registry", "id", "ok", "seconds", "bytes", "rpo_seconds"} <= set(res)
        snap = snapshots[registry]
        assert res["ok"] is True and res["error"] is None, res
        assert res["id"] == snap["id"] and res["bytes"] == snap["bytes"] and res["files"] == snap["files"]
        assert 0 < res["seconds"] < 60
        assert 0 <= res["rpo_seconds"] < 600
    pop = results[("lu", "population")]
    assert (pop["identical"], pop["changed"]) == (snapshots["population"]["files"], 0), pop
    # untouched since its backup: proven identical block by block, so no integrity_check is needed
    assert results[("ee", "cadastre")]["compared"] == (
        "restored database identical to the unchanged live one; live database unchanged"
    )
    assert results[("ch", "civil-dump")]["compared"].startswith("not comparable")
    assert history_rows(mission) == before + 9
    assert scratch_left(mission) == []
    # Each drill's folder is spread away from the last one's (see fsutil.spread_subfolders).
    probe = mission.root / "probe"
    probe.mkdir(exist_ok=True)
    flags = inode_flags(mission.root / "var" / "tmp") or 0
    assert bool(flags & FS_TOPDIR_FL) == spread_subfolders(probe)  # set wherever the filesystem can
    # The human lines go to stderr with --json; the report is one self-contained page.
    assert "drill passed: 9 of 9" in err
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en">' in html
    assert not re.search(r"https?://", html), "the report must not reference anything outside itself"
    assert "<script" not in html.lower() and " src=" not in html and "<link" not in html
    assert "<svg" in html and "<title" in html and '<th scope="col">' in html
    for name in ("lu", "ee", "ch", "population", "cadastre", "civil-dump"):
        assert f">{name}<" in html or f"Store {name}" in html


def test_drill_with_one_store_down_names_it_and_why(
    mission: Mission, snapshots: dict[str, dict], seaweed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = with_dead_store(mission, seaweed)
    report = tmp_path / "down.html"
    started = time.monotonic()
    code, doc, err = drill_json(mission, "--config", str(config), "--report", str(report), "--parallel", "4")
    assert code == 1, err
    assert time.monotonic() - started < 30  # a dead store fails within seconds, not after a minute of retries
    assert doc["ok"] is False
    results = by_key(doc)
    dead = [r for (store, _), r in results.items() if store == "dead"]
    assert len(dead) == 3
    for r in dead:
        assert r["ok"] is False and r["id"] is None
        assert r["error"].startswith("store dead: ") and "connect" in r["error"].lower(), r["error"]
    assert all(r["ok"] for (store, _), r in results.items() if store != "dead")
    assert "dead" in err and "FAIL" in err
    html = report.read_text()
    assert 'id="store-dead"' in html and "✘ failed" in html and "Could not connect" in html
    assert scratch_left(mission) == []


def test_status_reports_stores_snapshots_ages_and_last_drill(
    mission: Mission, snapshots: dict[str, dict], seaweed
) -> None:  # type: ignore[no-untyped-def]
    code, _, err = drill_json(mission, "--store", "lu", "--registry", "civil-dump")
    assert code == 0, err
    r = mission.cli("status", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert {"stores", "registries", "last_drill"} <= set(doc)
    stores = {s["name"]: s for s in doc["stores"]}
    assert set(stores) == {"lu", "ee", "ch"}
    assert stores["ee"]["jurisdiction"] == "EE" and stores["ee"]["kind"] == "s3"
    assert all(s["reachable"] and s["counts_for_quorum"] and s["error"] is None for s in stores.values())
    regs = {r["name"]: r for r in doc["registries"]}
    assert set(regs) == {"population", "cadastre", "civil-dump"}
    for name, reg in regs.items():
        assert reg["last_snapshot"] == snapshots[name]["id"]
        assert 0 <= reg["age_seconds"] < 600
        assert {k: v["id"] for k, v in reg["stores"].items()} == {s: reg["last_snapshot"] for s in ("lu", "ee", "ch")}
    drill = doc["last_drill"]
    assert drill["ok"] is True and drill["total"] == 1 and 0 <= drill["age_seconds"] < 120
    assert drill["results"][0]["registry"] == "civil-dump"
    # Human output: a table naming every store and registry.
    r = mission.cli("status")
    assert r.code == 0 and all(n in r.out for n in ("lu", "ee", "ch", "population", "cadastre", "last drill"))
    # A store that is down makes status exit 1 and say why.
    r = mission.cli("--config", str(with_dead_store(mission, seaweed)), "status", "--json")
    assert r.code == 1, r.err
    dead = next(s for s in json.loads(r.out)["stores"] if s["name"] == "dead")
    assert dead["reachable"] is False and dead["error"].startswith("store dead: ")


def test_drill_compares_with_live_files_and_catches_silent_corruption(
    mission: Mission, snapshots: dict[str, dict]
) -> None:
    live = mission.root / "registries" / "population"
    restricted = live / "restricted.csv"
    original = restricted.read_bytes()
    try:
        # An ordinary edit (size and mtime move): counted as changed since the snapshot, not a failure.
        (live / "empty.dat").write_bytes(b"now with content")
        code, doc, err = drill_json(mission, "--store", "lu", "--registry", "population")
        assert code == 0, err
        assert doc["results"][0]["changed"] == 1 and "1 changed since the snapshot" in doc["results"][0]["compared"]
        # Same size, same mtime, other bytes: only corruption below the filesystem does that.
        damaged = bytearray(original)
        damaged[5000] ^= 0x20
        restricted.write_bytes(bytes(damaged))
        os.utime(restricted, ns=(MTIME_NS, MTIME_NS))
        code, doc, err = drill_json(mission, "--store", "lu", "--registry", "population")
        assert code == 1, err
        result = doc["results"][0]
        assert result["ok"] is False
        assert "silent corruption" in result["error"] and "restricted.csv" in result["error"], result["error"]
        assert "from byte 0" in result["error"]  # the first chunk holds byte 5000: its offset is named
    finally:
        restricted.write_bytes(original)
        os.utime(restricted, ns=(MTIME_NS, MTIME_NS))
        (live / "empty.dat").write_bytes(b"")
    assert scratch_left(mission) == []


def test_a_damaged_pack_fails_that_stores_drill_only(mission: Mission, snapshots: dict[str, dict], seaweed) -> None:  # type: ignore[no-untyped-def]
    ring = Keyring.unseal((mission.root / "var" / "keyring").read_bytes(), PASSPHRASE.encode())
    prefix = f"r/{tag_for(ring, 'population')}/packs/"
    client = seaweed[1].client()  # the store "ee"
    bucket = mission.buckets["ee"]
    packs = client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    key = max(packs, key=lambda o: o["Size"])["Key"]
    original = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    client.put_object(Bucket=bucket, Key=key, Body=bytes(flipped))
    try:
        code, doc, err = drill_json(mission, "--registry", "population")
        assert code == 1, err
        results = {r["store"]: r for r in doc["results"]}
        assert results["lu"]["ok"] and results["ch"]["ok"]
        assert results["ee"]["ok"] is False
        assert "could not be read intact" in results["ee"]["error"] and "store ee" in results["ee"]["error"]
    finally:
        client.put_object(Bucket=bucket, Key=key, Body=original)


def test_history_travels_with_the_mission_site_registry(
    mission: Mission, snapshots: dict[str, dict], tmp_path: Path
) -> None:
    if history_rows(mission) == 0:
        assert drill_json(mission, "--store", "lu", "--registry", "civil-dump")[0] == 0
    rows = history_rows(mission)
    text = mission.config.read_text()
    config = mission.root / "with-site.toml"
    site = '[[registries]]\nname = "mission-site"\nkind = "sqlite"\npath = "var/mission.db"\n\n'
    config.write_text(text.replace("[[registries]]", site + "[[registries]]", 1))
    r = mission.cli("--config", str(config), "backup", "--registry", "mission-site", "--json")
    assert r.code == 0, r.err
    target = tmp_path / "site"
    r = mission.cli("--config", str(config), "restore", "latest", "--registry", "mission-site", "--target", str(target))
    assert r.code == 0, r.err
    with sqlite3.connect(target / "mission.db") as conn:
        assert conn.execute("SELECT count(*) FROM drill_history").fetchone()[0] == rows
        assert conn.execute("SELECT count(DISTINCT store) FROM drill_history").fetchone()[0] >= 1


def test_ctrl_c_during_a_drill_leaves_no_scratch_behind(mission: Mission, snapshots: dict[str, dict], seaweed) -> None:  # type: ignore[no-untyped-def]
    # A store that accepts connections and never answers keeps the drill busy until interrupted.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        text = mission.config.read_text()
        before, after = text.split("[[stores]]", 1)
        hung = s3_store_toml("hung", seaweed[0], "gone", "NO").replace(
            seaweed[0].endpoint, f"http://127.0.0.1:{silent.getsockname()[1]}"
        )
        config = mission.root / "with-hung-store.toml"
        config.write_text(before + hung + "\n[[stores]]" + after)
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")} | mission.env
        proc = subprocess.Popen(
            [sys.executable, "-m", "embassy", "--config", str(config), "drill", "--store", "lu", "--store", "hung"],
            cwd=mission.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not any(n.startswith("drill-") for n in scratch_left(mission)):
            assert proc.poll() is None and time.monotonic() < deadline, "the drill never made its scratch folder"
            time.sleep(0.02)
        time.sleep(0.5)  # store lu's restores run meanwhile
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert scratch_left(mission) == []


def test_an_unchanged_live_database_is_compared_block_for_block(mission: Mission, snapshots: dict[str, dict]) -> None:
    # Another backup of the untouched database keeps its fingerprint (the first one's read
    # transaction may have created an empty WAL: the key is taken under it). Last in the module: it
    # makes a newer cadastre snapshot than the module's backup.
    r = mission.cli("backup", "--registry", "cadastre")
    assert r.code == 0, r.err
    code, doc, err = drill_json(mission, "--store", "ch", "--registry", "cadastre")
    assert code == 0, err
    result = doc["results"][0]
    assert result["compared"] == "restored database identical to the unchanged live one; live database unchanged"
    assert (result["identical"], result["changed"]) == (1, 0)
    code, doc, err = drill_json(mission, "--store", "ch", "--registry", "cadastre", "--full-check")
    assert code == 0, err
    assert doc["results"][0]["compared"] == "restored database passes integrity_check; live database unchanged"
    # A write moves the fingerprint: the snapshot is then only checked for integrity.
    with sqlite3.connect(mission.root / "registries" / "cadastre.db") as conn:
        conn.execute("UPDATE person SET note = 'changed' WHERE id = 7")
    code, doc, err = drill_json(mission, "--store", "ch", "--registry", "cadastre")
    assert code == 0, err
    assert doc["results"][0]["compared"].endswith("live database changed since the snapshot")
