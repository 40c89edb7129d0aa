"""A hostile store abroad, writing only into itself, against restore, the drill and verify.

Each test builds its own mission (three real SeaweedFS stores lu/ee/ch, registries of every kind)
and lets ``lu`` — the store listed first — misbehave: planting objects named like manifests with
times far in the future, or renaming its real manifests. What a restore returns, what the drill
restores and which stores verify blames must come from what verifies, never from those names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.conftest import Mission, build_mission

NAMES = ("lu", "ee", "ch")
REGISTRIES = ("population", "cadastre", "civil-dump")


@pytest.fixture
def mission(tmp_path: Path, seaweed) -> Mission:  # type: ignore[no-untyped-def]
    m = build_mission(tmp_path, seaweed)
    for i in range(2):  # two snapshots of each registry: the newest is the one to restore
        (m.root / "registries" / "population" / "new.txt").write_text(f"change {i}\n")
        r = m.cli("backup", "--json")
        assert r.code == 0, r.err
    return m


def client_of(mission: Mission, seaweed, name: str):  # type: ignore[no-untyped-def]
    return seaweed[NAMES.index(name)].client(), mission.buckets[name]


def manifests(client, bucket: str) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="r/"):
        out += [o["Key"] for o in page.get("Contents", []) if "/snapshots/" in o["Key"]]
    return sorted(out)


def newest_ids(mission: Mission) -> dict[str, str]:
    """Each registry's newest real snapshot, as `embassy snapshots` lists them from the honest stores."""
    r = mission.cli("snapshots", "--json", "--store", "ee")
    assert r.code == 0, r.err
    newest: dict[str, tuple[str, str]] = {}
    for s in json.loads(r.out)["snapshots"]:
        if s["registry"] not in newest or s["time"] > newest[s["registry"]][0]:
            newest[s["registry"]] = (s["time"], s["id"])
    return {reg: sid for reg, (_, sid) in newest.items()}


def plant_junk(client, bucket: str, count: int = 3) -> list[str]:  # type: ignore[no-untyped-def]
    """Objects named like manifests of every registry the store holds, dated 2099, random bytes."""
    tags = sorted({k.split("/")[1] for k in manifests(client, bucket)})
    planted = []
    for tag in tags:
        for i in range(count):
            key = f"r/{tag}/snapshots/2099010{i + 1}T000000.000000Z_{os.urandom(32).hex()}"
            client.put_object(Bucket=bucket, Key=key, Body=os.urandom(700))
            planted.append(key)
    return planted


def test_junk_manifests_in_one_store_do_not_change_what_restore_latest_returns(
    mission: Mission, seaweed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    newest = newest_ids(mission)
    client, bucket = client_of(mission, seaweed, "lu")
    plant_junk(client, bucket)
    for registry in REGISTRIES:  # a dump registry's restore included
        r = mission.cli("restore", "latest", "--registry", registry, "--target", str(tmp_path / registry), "--json")
        assert r.code == 0, r.err
        doc = json.loads(r.out)
        assert doc["id"] == newest[registry]
        assert any("store lu" in w for w in doc["warnings"]), doc
        assert "store lu" in r.err and "does not verify" in r.err
    assert (tmp_path / "population" / "new.txt").read_text() == "change 1\n"
    assert (tmp_path / "civil-dump" / "civil-dump.dump").stat().st_size > 0


def test_restore_latest_fails_with_exit_4_only_when_nothing_trustworthy_is_left(
    mission: Mission, seaweed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    for name in NAMES:
        client, bucket = client_of(mission, seaweed, name)
        for key in manifests(client, bucket):
            client.put_object(Bucket=bucket, Key=key, Body=os.urandom(900))  # every real copy ruined
        plant_junk(client, bucket, count=1)
    cache = mission.root / "var" / "cache" / "manifests"
    for cached in cache.iterdir():
        cached.unlink()
    r = mission.cli("restore", "latest", "--registry", "population", "--target", str(tmp_path / "t"), "--json")
    assert r.code == 4, r.err
    assert "population" in r.err and "verif" in r.err
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t").iterdir())


def test_the_drill_restores_the_newest_real_snapshot_from_every_store_despite_junk(mission: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    newest = newest_ids(mission)
    client, bucket = client_of(mission, seaweed, "lu")
    plant_junk(client, bucket)
    r = mission.cli("drill", "--json")
    assert r.out, r.err
    doc = json.loads(r.out)
    assert r.code == 0, (r.err, doc)
    results = {(x["store"], x["registry"]): x for x in doc["results"]}
    assert set(results) == {(s, reg) for s in NAMES for reg in REGISTRIES}
    for (_, registry), result in results.items():
        assert result["ok"] is True and result["id"] == newest[registry], result
    assert "store lu" in r.err and "does not verify" in r.err
    assert all(w.startswith("store lu") for x in doc["results"] for w in x.get("warnings", []))
    assert any(x.get("warnings") for x in doc["results"] if x["store"] == "lu")


def test_a_store_that_renames_its_real_manifest_is_the_one_verify_names(
    mission: Mission, seaweed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    newest = newest_ids(mission)
    client, bucket = client_of(mission, seaweed, "lu")
    [key] = [k for k in manifests(client, bucket) if k.endswith(newest["population"])]
    # The same bytes under an earlier time: the name no longer matches the signed time.
    renamed = key.replace(key.rsplit("/", 1)[1][:8], "20000101", 1)
    assert renamed != key
    client.copy_object(Bucket=bucket, Key=renamed, CopySource={"Bucket": bucket, "Key": key})
    client.delete_object(Bucket=bucket, Key=key)
    r = mission.cli("verify", "--json")
    assert r.out, r.err
    doc = json.loads(r.out)
    assert r.code == 1, doc
    assert doc["stores"]["ee"]["ok"] is True and doc["stores"]["ch"]["ok"] is True, doc
    lu = doc["stores"]["lu"]
    assert lu["ok"] is False
    assert renamed in lu["damaged"] and key in lu["missing"], lu
    reasons = {(f["key"], f["kind"]): f["detail"] for f in lu["findings"]}
    assert reasons[(renamed, "damaged")] == "the time in its name differs from the signed time", reasons
    assert (key, "missing") in reasons
    # The id resolves in each store by that store's own name for it: the honest copies restore.
    target = tmp_path / "by-id"
    r = mission.cli("restore", newest["population"][:16], "--registry", "population", "--target", str(target))
    assert r.code == 0, r.err
    assert (target / "new.txt").read_text() == "change 1\n"
    # Repair puts the real name back in lu; the misnamed copy, which no store holds intact under
    # that name, it can only name.
    r = mission.cli("repair", "--json")
    assert r.code == 1, r.err
    assert key in manifests(client, bucket)
    assert any(renamed in k for k in json.loads(r.out)["stores"]["lu"]["still_missing"]), r.out
