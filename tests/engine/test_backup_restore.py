"""Backup and restore through the real CLI against three real SeaweedFS stores."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import PASSPHRASE, s3_store_toml

from engine.conftest import DUMP_SCRIPT, MARKER, Mission, build_mission, closed_port, tree, write_config
from keys import Keyring
from replication.chunking import cdc_seed, cut_whole


def backup_json(mission: Mission, *args: str) -> tuple[int, dict]:
    r = mission.cli("backup", "--json", *args)
    assert r.out, r.err
    return r.code, json.loads(r.out)


def by_registry(doc: dict) -> dict[str, dict]:
    return {s["registry"]: s for s in doc["snapshots"]}


def test_directory_round_trip_is_byte_identical_with_metadata(mission: Mission, tmp_path: Path) -> None:
    code, doc = backup_json(mission, "--registry", "population")
    assert code == 0, doc
    snap = by_registry(doc)["population"]
    assert snap["quorum_met"] is True
    assert snap["stores"] == {"lu": "ok", "ee": "ok", "ch": "ok"}
    assert snap["files"] == 5
    source = mission.root / "registries" / "population"
    assert snap["bytes"] == sum(p.stat().st_size for p in source.rglob("*") if p.is_file() and not p.is_symlink())
    for store in ("lu", "ee", "ch"):
        target = tmp_path / store
        r = mission.cli(
            "restore", "latest", "--registry", "population", "--target", str(target), "--store", store, "--json"
        )
        assert r.code == 0, r.err
        result = json.loads(r.out)
        assert result["id"] == snap["id"] and result["files"] == 5 and result["store"] == store
        assert tree(target) == tree(source)
    assert os.readlink(tmp_path / "lu" / "link-out") == "/etc/hostname"  # a link, not a copy of the file


def test_restore_of_one_path_and_prefix_and_refusals(mission: Mission, tmp_path: Path) -> None:
    r = mission.cli("snapshots", "--registry", "population", "--json")
    assert r.code == 0, r.err
    snaps = json.loads(r.out)["snapshots"]
    assert snaps and all(s["registry"] == "population" for s in snaps)
    assert sorted(snaps[-1]["stores"]) == ["ch", "ee", "lu"]
    prefix = snaps[-1]["id"][:10]
    r = mission.cli("restore", prefix, "--registry", "population", "--target", str(tmp_path / "one"), "--path", "a/b")
    assert r.code == 0, r.err
    assert sorted(str(p.relative_to(tmp_path / "one")) for p in (tmp_path / "one").rglob("*")) == [
        "a",
        "a/b",
        "a/b/c",
        "a/b/c/deep.txt",
    ]
    # non-empty target without --force; unknown snapshot; unknown registry
    r = mission.cli("restore", "latest", "--registry", "population", "--target", str(tmp_path / "one"))
    assert r.code == 2 and "not empty" in r.err and "--force" in r.err
    r = mission.cli("restore", "ffffffffff", "--registry", "population", "--target", str(tmp_path / "x"))
    assert r.code == 2 and "no snapshot 'ffffffffff'" in r.err
    r = mission.cli("restore", "latest", "--registry", "nope", "--target", str(tmp_path / "x"))
    assert r.code == 2 and "no registry named 'nope'" in r.err
    r = mission.cli("restore", "latest", "--registry", "population", "--target", str(tmp_path / "one"), "--force")
    assert r.code == 0, r.err
    assert tree(tmp_path / "one") == tree(mission.root / "registries" / "population")


def test_second_backup_dedups_and_a_small_change_uploads_little(mission: Mission) -> None:
    backup_json(mission, "--registry", "population")  # whatever ran before, the registry is now stored
    code, first = backup_json(mission, "--registry", "population")
    assert code == 0
    again = by_registry(first)["population"]
    assert again["new_bytes"] == 0
    assert again["reused_files"] == 5  # files cache: nothing read again
    assert again["stored_bytes"] < 4096  # just the manifest
    big = mission.root / "registries" / "population" / "a" / "big.bin"
    old = big.read_bytes()
    data = bytearray(old)
    data[1_000_000:1_000_100] = b"\xee" * 100
    big.write_bytes(bytes(data))
    code, doc = backup_json(mission, "--registry", "population")
    changed = by_registry(doc)["population"]
    assert code == 0
    assert changed["reused_files"] == 4
    # Exactly the chunks around the edit that the registry's own content-defined cut makes new
    # (usually one or two: how long depends on the random file and the key), not the 5.4 MB file.
    ring = Keyring.unseal((mission.root / "var" / "keyring").read_bytes(), PASSPHRASE.encode())
    seed = cdc_seed(ring.id_key("population"))
    new_chunks = {bytes(c) for c in cut_whole(bytes(data), seed)} - {bytes(c) for c in cut_whole(old, seed)}
    assert changed["new_bytes"] == sum(len(c) for c in new_chunks), changed
    assert 0 < changed["new_bytes"] < len(data), changed
    code, doc = backup_json(mission, "--registry", "population", "--reread")
    assert code == 0 and by_registry(doc)["population"]["reused_files"] == 0
    assert by_registry(doc)["population"]["new_bytes"] == 0


def test_sqlite_snapshot_while_the_database_is_written(mission: Mission, tmp_path: Path) -> None:
    db_path = mission.root / "registries" / "cadastre.db"
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        db = sqlite3.connect(db_path, timeout=30)
        while not stop.is_set():
            with db:
                db.executemany(
                    "INSERT INTO person (name, note) VALUES (?, ?)",
                    [(f"new {written[0]}-{i}", "x" * 200) for i in range(50)],
                )
                db.execute("UPDATE person SET note = ? WHERE id = ?", (f"updated {written[0]}", 1 + written[0] % 1000))
            written[0] += 1
        db.close()

    before = sqlite3.connect(db_path).execute("SELECT count(*) FROM person").fetchone()[0]
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.2)
        code, doc = backup_json(mission, "--registry", "cadastre")
    finally:
        stop.set()
        thread.join()
    assert code == 0, doc
    assert written[0] > 0
    after = sqlite3.connect(db_path).execute("SELECT count(*) FROM person").fetchone()[0]
    r = mission.cli("restore", "latest", "--registry", "cadastre", "--target", str(tmp_path / "db"))
    assert r.code == 0, r.err
    restored = sqlite3.connect(tmp_path / "db" / "cadastre.db")
    assert restored.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    count, low, high = restored.execute("SELECT count(*), min(id), max(id) FROM person").fetchone()
    assert before <= count <= after
    assert (low, high) == (1, count)  # a consistent prefix of the inserts: no torn transaction
    assert count % 50 == before % 50  # whole transactions only


def test_command_registry_streams_the_dump_and_restores_it(mission: Mission, tmp_path: Path) -> None:
    code, doc = backup_json(mission, "--registry", "civil-dump")
    assert code == 0, doc
    expected = subprocess.run([sys.executable, "-c", DUMP_SCRIPT], capture_output=True, check=True).stdout
    assert by_registry(doc)["civil-dump"]["bytes"] == len(expected)
    r = mission.cli("restore", "latest", "--registry", "civil-dump", "--target", str(tmp_path / "d"))
    assert r.code == 0, r.err
    assert (tmp_path / "d" / "civil-dump.dump").read_bytes() == expected


def test_failing_dump_command_fails_that_registry(mission: Mission, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        mission.config.read_text().split("[[stores]]", 1)[1].join(["[[stores]]", ""]),
        registries=f'[[registries]]\nname = "civil-dump"\nkind = "command"\n'
        f'command = ["{sys.executable}", "-c", "import sys; print(\'partial\'); '
        f"sys.stderr.write('pg_dump: connection refused\\\\n'); sys.exit(3)\"]\n",
    )
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "keyring").write_bytes((mission.root / "var" / "keyring").read_bytes())
    r = mission.cli("--config", str(config), "backup", "--json")
    assert r.code == 5, r.err
    snap = json.loads(r.out)["snapshots"][0]
    assert snap["quorum_met"] is False and snap["id"] is None
    assert "exited with 3" in snap["error"] and "connection refused" in snap["error"]


def test_no_plaintext_reaches_any_store(mission: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    code, _ = backup_json(mission)
    assert code == 0
    needles = [MARKER.encode(), "Айгерим".encode(), b"confidential", b"population", b"cadastre", b"deep.txt"]
    seen = 0
    for (name, bucket), store in zip(mission.buckets.items(), seaweed, strict=True):
        client = store.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                seen += 1
                for needle in needles:
                    assert needle not in body, f"{needle!r} in {name}:{obj['Key']}"
                    assert needle not in obj["Key"].encode()
    assert seen > 10


def test_a_store_down_degrades_but_the_quorum_holds(mission: Mission, tmp_path: Path, seaweed) -> None:  # type: ignore[no-untyped-def]
    text = mission.config.read_text()
    down = s3_store_toml("dead", seaweed[0], "embassy", "FR").replace(
        seaweed[0].endpoint, f"http://127.0.0.1:{closed_port()}"
    )
    config = mission.root / "with-dead.toml"
    config.write_text(text + "\n" + down + "\n[replication]\nquorum = 3\n")
    started = time.monotonic()
    r = mission.cli("--config", str(config), "backup", "--json", "--registry", "population")
    assert r.code == 3, r.err
    snap = json.loads(r.out)["snapshots"][0]
    assert snap["quorum_met"] is True
    assert snap["stores"]["dead"].startswith("failed: store dead:")
    assert {k: v for k, v in snap["stores"].items() if k != "dead"} == {"lu": "ok", "ee": "ok", "ch": "ok"}
    assert time.monotonic() - started < 60
    r = mission.cli(
        "--config",
        str(config),
        "restore",
        snap["id"],
        "--registry",
        "population",
        "--target",
        str(tmp_path / "r"),
        "--store",
        "ee",
    )
    assert r.code == 0, r.err
    assert tree(tmp_path / "r") == tree(mission.root / "registries" / "population")


def test_two_stores_down_with_quorum_two_of_three_fails(mission: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    stores = s3_store_toml("lu", seaweed[0], mission.buckets["lu"], "LU")
    for name in ("x1", "x2"):
        stores += "\n" + s3_store_toml(name, seaweed[0], "embassy", "DE").replace(
            seaweed[0].endpoint, f"http://127.0.0.1:{closed_port()}"
        )
    text = mission.config.read_text().split("[[stores]]", 1)[0] + stores + "\n[replication]\nquorum = 2\n"
    config = mission.root / "two-dead.toml"
    config.write_text(text)
    r = mission.cli("--config", str(config), "backup", "--json", "--registry", "population")
    assert r.code == 5, r.err
    snap = json.loads(r.out)["snapshots"][0]
    assert snap["quorum_met"] is False
    assert snap["stores"]["lu"] == "ok"
    assert snap["stores"]["x1"].startswith("failed:") and snap["stores"]["x2"].startswith("failed:")


def test_an_unchanged_database_whose_wal_outgrows_its_file_restores_from_the_reused_snapshot(
    tmp_path: Path,
    seaweed,  # type: ignore[no-untyped-def]
) -> None:
    """The files cache reuses the copy's chunks: the entry keeps their size, not the file's."""
    mission = build_mission(tmp_path / "m", seaweed)
    db_path = mission.root / "registries" / "cadastre.db"
    app = sqlite3.connect(db_path)  # held open, so the WAL is never checkpointed into the file
    try:
        app.execute("PRAGMA wal_autocheckpoint=0")
        with app:
            app.executemany(
                "INSERT INTO person (name, note) VALUES (?, ?)", [(f"late {i}", "y" * 300) for i in range(3000)]
            )
        pages = app.execute("PRAGMA page_count").fetchone()[0] * app.execute("PRAGMA page_size").fetchone()[0]
        assert pages > db_path.stat().st_size  # the database is longer than its file
        code, first = backup_json(mission, "--registry", "cadastre")
        assert code == 0 and by_registry(first)["cadastre"]["reused_files"] == 0
        code, second = backup_json(mission, "--registry", "cadastre")
        assert code == 0 and by_registry(second)["cadastre"]["reused_files"] == 1
        r = mission.cli("restore", "latest", "--registry", "cadastre", "--target", str(tmp_path / "db"))
        assert r.code == 0, r.err
        restored = tmp_path / "db" / "cadastre.db"
        assert restored.stat().st_size == pages
        check = sqlite3.connect(restored)
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert check.execute("SELECT count(*) FROM person WHERE name LIKE 'late %'").fetchone()[0] == 3000
        check.close()
    finally:
        app.close()
