"""verify and repair against real SeaweedFS stores: losses, flipped bytes, chain breaks, forgeries."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from pathlib import Path

import blake3
import pytest
from nacl.signing import SigningKey

from embassy.config import load_config
from engine.conftest import Mission, build_mission, tree
from replication.errors import IntegrityError
from replication.stores import open_store
from replication.verify import HeadStart

NAMES = ("lu", "ee", "ch")


@pytest.fixture(scope="module")
def mission(tmp_path_factory: pytest.TempPathFactory, seaweed) -> Mission:  # type: ignore[no-untyped-def]
    m = build_mission(tmp_path_factory.mktemp("verify"), seaweed)
    for i in range(2):  # two snapshots of each registry: a chain to break
        (m.root / "registries" / "population" / "new.txt").write_text(f"change {i}\n")
        r = m.cli("backup", "--registry", "population", "--registry", "cadastre", "--json")
        assert r.code == 0, r.err
    return m


def client_of(mission: Mission, seaweed, name: str):  # type: ignore[no-untyped-def]
    return seaweed[NAMES.index(name)].client(), mission.buckets[name]


def keys(client, bucket: str, part: str) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out += [o["Key"] for o in page.get("Contents", []) if part in o["Key"]]
    return sorted(out)


def verify(mission: Mission, *args: str) -> tuple[int, dict]:
    r = mission.cli("verify", "--json", *args)
    assert r.out, r.err
    return r.code, json.loads(r.out)


def test_a_clean_mission_verifies(mission: Mission) -> None:
    code, doc = verify(mission, "--read-data")
    assert code == 0, doc
    assert doc["ok"] is True
    for name in NAMES:
        s = doc["stores"][name]
        assert s["ok"] and s["missing"] == [] and s["damaged"] == [] and s["chain"] == []
        assert s["checked"] > 5 and s["read_packs"] > 0


def test_lost_packs_are_named_repaired_and_the_store_restores(mission: Mission, seaweed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, bucket = client_of(mission, seaweed, "ee")
    packs = keys(client, bucket, "/packs/")
    lost = random.Random(5).sample(packs, max(1, len(packs) // 10))
    for key in lost:
        client.delete_object(Bucket=bucket, Key=key)
    code, doc = verify(mission, "--store", "ee")
    assert code == 1
    assert sorted(doc["stores"]["ee"]["missing"]) == sorted(lost)
    assert list(doc["stores"]) == ["ee"]
    r = mission.cli("repair", "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert rep["ok"] is True and rep["stores"]["ee"]["copied"] == len(lost)
    assert rep["stores"]["ee"]["still_missing"] == [] and rep["stores"]["lu"]["copied"] == 0
    code, doc = verify(mission)
    assert code == 0, doc
    r = mission.cli("restore", "latest", "--registry", "population", "--store", "ee", "--target", str(tmp_path / "r"))
    assert r.code == 0, r.err
    assert tree(tmp_path / "r") == tree(mission.root / "registries" / "population")


def test_a_flipped_byte_is_found_by_reading_data_and_healed(mission: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    client, bucket = client_of(mission, seaweed, "ch")
    victim = keys(client, bucket, "/packs/")[0]
    data = bytearray(client.get_object(Bucket=bucket, Key=victim)["Body"].read())
    data[len(data) // 3] ^= 0x10
    client.put_object(Bucket=bucket, Key=victim, Body=bytes(data))
    code, doc = verify(mission)  # same size: only reading finds it
    assert code == 0
    # verify reads its first packs before the keyring opens: the damaged one is among them, and is
    # judged by the same check as any other pack it reads
    assert victim in asyncio.run(early_reads(mission, "ch"))
    code, doc = verify(mission, "--read-data")
    assert code == 1
    assert doc["stores"]["ch"]["damaged"] == [victim]
    assert doc["stores"]["lu"]["ok"] and doc["stores"]["ee"]["ok"]
    r = mission.cli("repair", "--store", "ch", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["stores"]["ch"]["copied"] == 1
    code, doc = verify(mission, "--read-data")
    assert code == 0, doc


async def early_reads(mission: Mission, name: str) -> set[str]:
    """The packs verify's head start reads from store ``name``; each must fail or pass its id check."""
    spec = next(s for s in load_config(mission.config, mission.env).stores if s.name == name)
    store = open_store(spec)
    head = HeadStart([store], read_all=True)
    try:
        await head.run()
        early = head.prefetched(name)
        assert 0 < len(early) <= head.packs_per_store
        for key in early:
            try:
                fetched = await head.take(name, key)
            except IntegrityError:
                continue
            assert fetched is not None and blake3.blake3(fetched.data).hexdigest() == key.rsplit("/", 1)[1]
        assert head.prefetched(name) == set()  # each taken once
        return early
    finally:
        head.drop()
        await store.close()


def test_read_data_subset_covers_everything_over_runs(mission: Mission) -> None:
    _, full = verify(mission, "--read-data", "--store", "lu")
    total = full["stores"]["lu"]["read_packs"]
    assert total >= 2
    seen = 0
    for _ in range(2):
        code, doc = verify(mission, "--read-data-subset", "50", "--store", "lu")
        assert code == 0
        seen += doc["stores"]["lu"]["read_packs"]
    assert seen >= total
    r = mission.cli("verify", "--read-data-subset", "0")
    assert r.code == 2 and "percentage" in r.err


def test_a_deleted_manifest_breaks_the_chain_of_that_store(mission: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    client, bucket = client_of(mission, seaweed, "lu")
    manifests = keys(client, bucket, "/snapshots/")
    # the oldest snapshot of one registry: the next one names it as previous
    by_registry: dict[str, list[str]] = {}
    for key in manifests:
        by_registry.setdefault(key.split("/")[1], []).append(key)
    victim = sorted(next(v for v in by_registry.values() if len(v) >= 2))[0]
    client.delete_object(Bucket=bucket, Key=victim)
    for cached in (mission.root / "var" / "cache" / "manifests").iterdir():
        cached.unlink()
    code, doc = verify(mission)
    assert code == 1
    lu = doc["stores"]["lu"]
    assert victim in lu["missing"]
    assert any("which this store lacks" in c for c in lu["chain"]), lu["chain"]
    assert doc["stores"]["ee"]["chain"] == []
    # A restore or a drill from that store alone says so too; from every store the chain is whole.
    for stores, broken in ((["--store", "lu"], 1), ([], 0)):
        target = mission.root / f"chain-{len(stores)}"
        chains = []
        for registry in ("population", "cadastre"):
            where = ["--registry", registry, "--target", str(target / registry)]
            r = mission.cli("restore", "latest", *where, "--json", *stores)
            assert r.code == 0, r.err
            chains.append(json.loads(r.out)["chain"])
        assert sum(c.startswith("broken: previous snapshot") and "is in no store" in c for c in chains) == broken
        assert chains.count("ok") == len(chains) - broken
        shutil.rmtree(target)
    r = mission.cli("drill", "--store", "lu", "--registry", "population", "--registry", "cadastre", "--json")
    chains = [x["chain"] for x in json.loads(r.out)["results"]]
    assert sum(c.startswith("broken: previous snapshot") for c in chains) == 1, chains
    r = mission.cli("repair")
    assert r.code == 0, r.err
    assert verify(mission)[0] == 0


def test_a_manifest_re_signed_with_another_key_is_an_authenticity_failure(mission: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    client, bucket = client_of(mission, seaweed, "ee")
    key = keys(client, bucket, "/snapshots/")[-1]
    data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    forged = data[:-64] + SigningKey.generate().sign(data[:-64]).signature
    # stored under its own content id, as a forger would, so only the signature can give it away
    forged_key = key.rsplit("_", 1)[0] + "_" + blake3.blake3(forged).hexdigest()
    client.put_object(Bucket=bucket, Key=forged_key, Body=forged)
    try:
        code, doc = verify(mission)
        assert code == 4, doc
        assert doc["stores"]["ee"]["forged"] == [forged_key]
        r = mission.cli("verify")
        assert f"forged: {forged_key}" in r.out and "signed by another key" in r.err
    finally:
        client.delete_object(Bucket=bucket, Key=forged_key)
    assert verify(mission)[0] == 0


def test_a_store_that_lost_its_config_and_bundle_is_still_checked(mission: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    client, bucket = client_of(mission, seaweed, "ch")
    lost = ["embassy-repo.json", *keys(client, bucket, "keys/")]
    for key in lost:
        client.delete_object(Bucket=bucket, Key=key)
    code, doc = verify(mission, "--read-data")
    assert code == 1
    ch = doc["stores"]["ch"]
    assert "embassy-repo.json" in ch["missing"] and any(k.startswith("keys/bundle-") for k in ch["missing"])
    assert ch["read_packs"] > 0 and ch["damaged"] == []  # the data itself was checked
    assert mission.cli("repair").code == 0
    assert verify(mission)[0] == 0
