"""The data embassy's purpose: a fresh machine with one store and three custodians' shares restores everything."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import s3_env, s3_store_toml

from engine.conftest import DUMP_SCRIPT, build_mission, tree


def test_a_fresh_machine_recovers_the_keyring_and_every_registry(tmp_path: Path, seaweed) -> None:  # type: ignore[no-untyped-def]
    home = build_mission(tmp_path / "home", seaweed)
    r = home.cli("backup", "--json")
    assert r.code == 0, r.err
    snapshots = {s["registry"]: s["id"] for s in json.loads(r.out)["snapshots"]}
    r = home.cli("keys", "split", "--threshold", "3", "--shares", "5", "--out", str(tmp_path / "shares"), "--json")
    assert r.code == 0, r.err
    master = json.loads(r.out)["master_key_id"]

    # The fresh machine: a config naming one store abroad, and three of the five custodians' shares.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for n in (2, 4, 5):
        shutil.copy(tmp_path / "shares" / f"share-{n}-of-5.txt", fresh)
    regs = home.config.read_text().split("[[stores]]", 1)[0].replace('data_dir = "var"', 'data_dir = "state"')
    config = fresh / "embassy.toml"
    config.write_text(regs + s3_store_toml("ee", seaweed[1], home.buckets["ee"], "EE"))
    env = {**s3_env(seaweed[1]), "EMBASSY_PASSPHRASE": "the fresh machine's own passphrase"}

    def cli(*args: str):  # type: ignore[no-untyped-def]
        from conftest import run_cli

        return run_cli("--config", str(config), *args, env=env, cwd=fresh)

    r = cli(
        "keys",
        "recover",
        "--share",
        "share-2-of-5.txt",
        "--share",
        "share-4-of-5.txt",
        "--share",
        "share-5-of-5.txt",
        "--json",
    )
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["master_key_id"] == master and doc["store"] == "ee"
    assert sorted(doc["registries"]) == ["cadastre", "civil-dump", "population"]
    assert (fresh / "state" / "keyring").stat().st_mode & 0o777 == 0o600

    r = cli("restore", "latest", "--all", "--target", str(fresh / "restored"), "--json")
    assert r.code == 0, r.err
    restored = {x["registry"]: x for x in json.loads(r.out)["restores"]}
    assert {k: v["id"] for k, v in restored.items()} == snapshots
    assert all(v["store"] == "ee" and v["chain"] == "ok" for v in restored.values())
    source = home.root / "registries"
    assert tree(fresh / "restored" / "population") == tree(source / "population")
    assert (fresh / "restored" / "cadastre" / "cadastre.db").read_bytes() == (source / "cadastre.db").read_bytes()
    dump = subprocess.run([sys.executable, "-c", DUMP_SCRIPT], capture_output=True, check=True).stdout
    assert (fresh / "restored" / "civil-dump" / "civil-dump.dump").read_bytes() == dump

    # The recovered machine carries on: it verifies the store and backs up into it.
    r = cli("verify", "--read-data", "--json")
    assert r.code == 0, r.out
    r = cli("keys", "status", "--json")
    assert json.loads(r.out)["master_key_id"] == master
