"""Prune against a hostile or failing store: what one store plants, withholds or cannot list never
widens what is deleted in the others (three real SeaweedFS stores; ``lu`` is listed first)."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from conftest import PASSPHRASE
from dev_stores import DevStore
from prunekit import REGISTRY, PruneMission, build, same_files
from stores.faultproxy import FaultProxy

from embassy.backup_service import cache_dir
from embassy.config import load_config
from replication.prune import PruneOptions, Pruner
from replication.prune_report import PruneResult
from replication.stores import RetryPolicy, Store, open_store
from replication.stores.s3 import S3Backend

STORES = ("lu", "ee", "ch")


def snapshots(m: PruneMission, n: int) -> list[str]:
    ids = []
    for i in range(n):
        if i:
            m.change()
        ids.append(m.backup()["id"])
    return ids


def manifest_ids(m: PruneMission, store: str) -> set[str]:
    return {k.rsplit("_", 1)[1] for k in m.keys(store) if "/snapshots/" in k}


def tag_of(m: PruneMission) -> str:
    return next(k.split("/")[1] for k in m.keys("ee") if "/snapshots/" in k)


def plant_junk(m: PruneMission, store: str, count: int = 3) -> set[str]:
    client, tag = m.client(store), tag_of(m)
    planted = set()
    for i in range(count):
        key = f"r/{tag}/snapshots/2099010{i + 1}T000000.000000Z_{os.urandom(32).hex()}"
        client.put_object(Bucket=m.buckets[store], Key=key, Body=os.urandom(600))
        planted.add(key)
    return planted


def test_junk_manifests_in_one_store_never_make_prune_delete_real_ones_elsewhere(
    seaweed: list[DevStore], tmp_path: Path
) -> None:
    m = build(tmp_path, seaweed)  # keep last = 2
    ids = snapshots(m, 4)
    planted = plant_junk(m, "lu")
    lu_before = m.keys("lu")
    doc = m.prune("--grace", "0", expect=3)
    reg = doc["registries"][REGISTRY]
    assert [k["id"] for k in reg["kept"]] == [ids[3], ids[2]]
    assert [f["id"] for f in reg["forgotten"]] == [ids[1], ids[0]]
    for s in ("ee", "ch"):
        assert manifest_ids(m, s) == {ids[2], ids[3]}, s
        assert doc["stores"][s]["ok"] is True and doc["stores"][s]["manifests"]["count"] == 2
    # The store holding objects that do not verify is set aside, named, and nothing is deleted there.
    lu = doc["stores"]["lu"]
    assert lu["ok"] is False and lu["deleted"] == 0
    assert any("does not verify" in e for e in lu["errors"]), lu
    assert m.keys("lu") == lu_before and planted <= lu_before
    target = tmp_path / "restored"
    r = m.cli("restore", "latest", "--registry", REGISTRY, "--target", str(target), "--store", "ee", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["id"] == ids[3] and same_files(target, m.states[ids[3]])
    # What lu still holds of what prune forgot is listed as on its way out, not as below the quorum.
    r = m.cli("snapshots", "--registry", REGISTRY, "--json")
    assert r.code == 0, r.err
    rows = {row["id"]: row for row in json.loads(r.out)["snapshots"]}
    assert set(rows) == set(ids)
    for sid in ids[:2]:
        assert rows[sid]["stores"] == ["lu"] and rows[sid]["forgotten"] is True and rows[sid]["quorum_met"] is None
    for sid in ids[2:]:
        assert rows[sid]["quorum_met"] is True and "forgotten" not in rows[sid], rows[sid]
    r = m.cli("snapshots", "--registry", REGISTRY)
    assert r.out.count("forgotten by prune, not yet deleted there") == 2 and "BELOW QUORUM" not in r.out, r.out
    # Nor does the next backup's back-fill bring what prune forgot back from lu into the others.
    m.change()
    newest = m.backup()["id"]
    for s in ("ee", "ch"):
        assert manifest_ids(m, s) == {ids[2], ids[3], newest}, s


def test_a_kept_manifest_no_store_gives_intact_makes_prune_forget_nothing(
    seaweed: list[DevStore], tmp_path: Path
) -> None:
    m = build(tmp_path, seaweed)  # keep last = 2
    ids = snapshots(m, 4)
    for s in STORES:  # the newest snapshot's manifest ruined in every store, and not in the cache
        [key] = [k for k in m.keys(s) if k.endswith(ids[3])]
        m.client(s).put_object(Bucket=m.buckets[s], Key=key, Body=os.urandom(900))
    for cached in (m.root / "var" / "cache" / "manifests").iterdir():
        cached.unlink()
    before = {s: m.keys(s) for s in STORES}
    doc = m.prune("--grace", "0", expect=3)
    assert doc["ok"] is False
    for s in STORES:
        assert m.keys(s) == before[s], f"prune changed {s} though a snapshot there does not verify"
        assert doc["stores"][s]["deleted"] == 0
    assert not any("/forgotten/" in k for s in STORES for k in m.keys(s))


def test_a_store_that_cannot_be_listed_is_set_aside_and_the_others_are_pruned(
    seaweed: list[DevStore], tmp_path: Path
) -> None:
    m = build(tmp_path, seaweed, keep="last = 1, daily = 0, weekly = 0, monthly = 0")
    ids = snapshots(m, 3)
    lu_before = m.keys("lu")
    config = load_config(m.config, {**m.env, "EMBASSY_PASSPHRASE": PASSPHRASE})
    port = int(seaweed[0].endpoint.rsplit(":", 1)[1])

    def listing_registry(method: str, path: str) -> bool:  # every listing but the lock folder's
        return method == "GET" and ("list-type" in path or "versions" in path) and "prefix=locks" not in path

    async def prune_through_proxy() -> PruneResult:
        async with FaultProxy(port, "503", faults=None, only=listing_registry) as proxy:
            specs = list(config.stores)
            lu_spec = replace(specs[0], endpoint=proxy.endpoint)
            quick = RetryPolicy(attempts=3, max_seconds=10, initial_wait=0.01, max_wait=0.05)
            stores = [Store(lu_spec, S3Backend(lu_spec), retry=quick), *(open_store(s) for s in specs[1:])]
            assert m.ring is not None
            pruner = Pruner(
                m.ring, stores, [REGISTRY], config.replication.keep, cache_dir(config), PruneOptions(grace=timedelta(0))
            )
            try:
                result = await pruner.run()
            finally:
                await asyncio.gather(*(s.close() for s in stores))
            assert proxy.faulted > 0
            return result

    result = asyncio.run(prune_through_proxy())
    assert not result.ok
    assert result.stores["lu"].ok is False and result.stores["lu"].deleted == 0
    assert any("store lu" in e for e in result.stores["lu"].to_json()["errors"])
    assert m.keys("lu") == lu_before
    for s in ("ee", "ch"):
        assert result.stores[s].ok, result.stores[s]
        assert manifest_ids(m, s) == {ids[2]}
