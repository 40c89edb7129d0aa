"""`embassy prune` through the real CLI against three real SeaweedFS stores."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import s3_store_toml
from dev_stores import DevStore
from engine.conftest import closed_port
from prunekit import REGISTRY, PruneMission, build, same_files

STORES = ("lu", "ee", "ch")


def backups(m: PruneMission, n: int) -> tuple[list[str], list[str]]:
    """``n`` backups, changing v.bin before each but the first; (snapshot ids, the pack each added)."""
    ids, packs = [], []
    for i in range(n):
        before = m.keys("lu")
        if i:
            m.change()
        ids.append(m.backup()["id"])
        added = [k for k in m.keys("lu") - before if "/packs/" in k]
        assert len(added) == 1, added
        packs.append(added[0])
    return ids, packs


def manifest_keys(m: PruneMission, store: str) -> dict[str, str]:
    return {k.rsplit("_", 1)[1]: k for k in m.keys(store) if "/snapshots/" in k}


def restore(m: PruneMission, sid: str, target: Path) -> dict:
    r = m.cli("restore", sid, "--registry", REGISTRY, "--target", str(target), "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_prune_keeps_the_policy_and_deletes_only_what_no_kept_snapshot_needs(
    seaweed: list[DevStore], tmp_path: Path
) -> None:
    m = build(tmp_path, seaweed)  # keep last = 2
    ids, (p1, p2, p3, p4) = backups(m, 4)
    sizes = {k: m.client("lu").head_object(Bucket=m.buckets["lu"], Key=k)["ContentLength"] for k in (p2,)}
    before = {s: m.versions(s) for s in STORES}

    dry = m.prune("--dry-run", "--grace", "0")
    assert dry["ok"] is True and dry["dry_run"] is True
    reg = dry["registries"][REGISTRY]
    assert [(k["id"], k["reasons"]) for k in reg["kept"]] == [(ids[3], ["last"]), (ids[2], ["last"])]
    assert [f["id"] for f in reg["forgotten"]] == [ids[1], ids[0]]
    for s in STORES:
        st = dry["stores"][s]
        assert st["manifests"]["count"] == 2 and st["packs"] == {"count": 1, "bytes": sizes[p2]}, st
        assert st["deleted"] == 0 and st["held"] == [] and st["errors"] == []
    assert {s: m.versions(s) for s in STORES} == before, "a dry run changed a store"

    # With the default grace, forgotten manifests go but packs written minutes ago stay.
    real = m.prune()
    for s in STORES:
        st = real["stores"][s]
        assert st["manifests"] == dry["stores"][s]["manifests"]
        assert st["packs"]["count"] == 0 and st["young_packs"]["count"] == 1
    # Without it, the pack only forgotten snapshots used goes too: what the dry run listed.
    again = m.prune("--grace", "0")
    assert again["ok"] is True and again["registries"][REGISTRY]["forgotten"] == []
    for s in STORES:
        st = again["stores"][s]
        assert st["packs"] == dry["stores"][s]["packs"] and st["deleted"] == 1
        assert st["deleted_bytes"] == sizes[p2]
        keys = m.keys(s)
        assert p2 not in keys
        assert {p1, p3, p4} <= keys, "a pack a kept snapshot shares was deleted"
        assert set(manifest_keys(m, s)) == {ids[2], ids[3]}
        assert len([k for k in keys if "/forgotten/" in k]) == 1
    assert m.keys("lu", "locks/") == set(), "prune left its lock behind"

    for sid in ids[2:]:
        result = restore(m, sid, tmp_path / "out" / sid[:12])
        assert result["chain"] == "ok", result  # its previous was pruned, and a signed record says so
        assert same_files(tmp_path / "out" / sid[:12], m.states[sid])

    # A kept snapshot that no store gives intact: each store lists an object that does not verify,
    # so each is set aside for the registry: nothing is forgotten, nothing deleted.
    m.change()
    newest = m.backup()["id"]
    for s in STORES:
        key = manifest_keys(m, s)[newest]
        client = m.client(s)
        data = bytearray(client.get_object(Bucket=m.buckets[s], Key=key)["Body"].read())
        data[100] ^= 1
        client.put_object(Bucket=m.buckets[s], Key=key, Body=bytes(data))
    (m.root / "var" / "cache" / "manifests" / newest).unlink()
    doc = m.prune("--grace", "0", expect=3)
    assert doc["registries"][REGISTRY]["forgotten"] == []
    for s in STORES:
        assert doc["stores"][s]["packs"]["count"] == 0 and doc["stores"][s]["deleted"] == 0
        assert any("set aside" in e and newest in e for e in doc["stores"][s]["errors"]), doc["stores"][s]
        assert p3 in m.keys(s), "a pack was deleted although a kept snapshot could not be read"
        assert ids[2] in manifest_keys(m, s)


def test_a_store_down_degrades_and_the_others_are_pruned(seaweed: list[DevStore], tmp_path: Path) -> None:
    m = build(tmp_path, seaweed, keep="last = 1, daily = 0, weekly = 0, monthly = 0")
    ids, _ = backups(m, 2)
    dead = s3_store_toml("dead", seaweed[0], "embassy", "FR").replace(
        seaweed[0].endpoint, f"http://127.0.0.1:{closed_port()}"
    )
    config = m.root / "with-dead.toml"
    config.write_text(m.config.read_text().replace("[replication]", dead + "\n[replication]"))
    started = time.monotonic()
    r = m.cli("--config", str(config), "prune", "--json", "--grace", "0")
    assert r.code == 3, r.err
    doc = json.loads(r.out)
    assert doc["ok"] is False
    assert doc["stores"]["dead"]["ok"] is False
    assert len(doc["stores"]["dead"]["errors"]) == 1
    assert doc["stores"]["dead"]["errors"][0].startswith("store dead: ")
    for s in STORES:
        assert doc["stores"][s]["ok"] is True and doc["stores"][s]["manifests"]["count"] == 1
        assert set(manifest_keys(m, s)) == {ids[1]}
    assert time.monotonic() - started < 30
    assert "store dead: FAILED: store dead: " in r.err  # the human summary goes to stderr with --json


def test_object_lock_holds_are_reported_with_their_dates_and_nothing_locked_is_deleted(
    seaweed: list[DevStore], tmp_path: Path
) -> None:
    m = build(tmp_path, seaweed, keep="last = 1, daily = 0, weekly = 0, monthly = 0", locked=True, lock_days=1)
    ids, (_, p2, _) = backups(m, 3)
    # A pack no snapshot lists (as an interrupted backup leaves one), locked like everything else.
    orphan = p2.rsplit("/", 2)[0] + "/00/00" + "5" * 62
    until = (datetime.now(UTC) + timedelta(days=1, hours=12)).replace(microsecond=0)
    for s in STORES:
        m.client(s).put_object(
            Bucket=m.buckets[s],
            Key=orphan,
            Body=b"x" * 1000,
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=until,
        )
    before = {s: {v for v in m.versions(s) if "/forgotten/" not in v[0]} for s in STORES}
    doc = m.prune("--grace", "0")
    assert doc["ok"] is True
    assert [f["id"] for f in doc["registries"][REGISTRY]["forgotten"]] == [ids[1], ids[0]]
    for s in STORES:
        st = doc["stores"][s]
        assert st["deleted"] == 0 and st["manifests"]["count"] == 0 and st["packs"]["count"] == 0
        held = {h["key"]: datetime.fromisoformat(h["until"]) for h in st["held"]}
        manifests = manifest_keys(m, s)
        # The forgotten manifests are held; so is the orphan. The pack only forgotten snapshots
        # list is not even a candidate: their manifests are still here, and they need it.
        assert set(held) == {manifests[ids[0]], manifests[ids[1]], orphan}, (s, st)
        assert p2 in m.keys(s)
        assert held[orphan] == until
        # Backups write with retention until now + 1 day + a day of slack.
        assert all(
            datetime.now(UTC) + timedelta(days=1) < u < datetime.now(UTC) + timedelta(days=3) for u in held.values()
        )
    # Again, for people: the same holds, and no second forget record for the same snapshots.
    r = m.cli("prune", "--grace", "0")
    assert r.code == 0, r.err
    assert r.out.count("3 held by Object Lock (the last until ") == 3, r.out
    for s in STORES:
        after = m.versions(s)
        assert {v for v in after if "/forgotten/" not in v[0]} == before[s], "a locked object was touched"
        assert len([v for v in after if "/forgotten/" in v[0]]) == 1, "the forget record was written twice"


def test_versioned_buckets_lose_every_version_once_retention_has_passed(
    seaweed: list[DevStore], tmp_path: Path
) -> None:
    # Object Lock buckets, but no retention from the config: objects are versioned and deletable.
    m = build(tmp_path, seaweed, keep="last = 1, daily = 0, weekly = 0, monthly = 0", locked=True, lock_days=0)
    ids, (_, p2, _) = backups(m, 3)
    lu, ee = m.client("lu"), m.client("ee")
    # In lu a delete marker hides the oldest snapshot (it still counts: readers look beneath markers).
    lu.delete_object(Bucket=m.buckets["lu"], Key=manifest_keys(m, "lu")[ids[0]])
    # In ee the unused pack is locked for a few more seconds: long enough to outlast the first prune's
    # start-up and listing on a loaded machine (2 s did not), short enough to wait for it after.
    until = (datetime.now(UTC) + timedelta(seconds=10)).replace(microsecond=0)  # S3 keeps whole seconds
    ee.put_object_retention(Bucket=m.buckets["ee"], Key=p2, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})

    doc = m.prune("--grace", "0")
    assert [f["id"] for f in doc["registries"][REGISTRY]["forgotten"]] == [ids[1], ids[0]]
    assert doc["stores"]["lu"]["manifests"]["count"] == 2
    assert doc["stores"]["ee"]["held"] == [{"key": p2, "until": until.isoformat()}]
    for s in STORES:
        left = {k for k, _ in m.versions(s)}
        assert not any(ids[0] in k or ids[1] in k for k in left if "/snapshots/" in k), "a version was left"
        assert (p2 in left) == (s == "ee")

    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.1)
    doc = m.prune("--grace", "0")
    assert doc["stores"]["ee"]["held"] == [] and doc["stores"]["ee"]["packs"]["count"] == 1
    assert p2 not in {k for k, _ in m.versions("ee")}
    restore(m, ids[2], tmp_path / "out")
    assert same_files(tmp_path / "out", m.states[ids[2]])
