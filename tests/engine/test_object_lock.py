"""Object Lock: stolen store credentials cannot delete or replace backups; verify, restore and repair see through it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from engine.conftest import Mission, build_mission, tree


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, seaweed) -> Mission:  # type: ignore[no-untyped-def]
    m = build_mission(tmp_path_factory.mktemp("locked"), seaweed, locked=True, lock_days=1)
    r = m.cli("backup", "--registry", "population", "--json")
    assert r.code == 0, r.err
    return m


def test_the_stores_own_credentials_cannot_delete_any_version(locked: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    client, bucket = seaweed[0].client(), locked.buckets["lu"]
    versions = client.list_object_versions(Bucket=bucket).get("Versions", [])
    assert len(versions) >= 4  # config, bundle, packs, manifest
    for v in versions:
        with pytest.raises(ClientError) as e:
            client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        assert e.value.response["Error"]["Code"] == "AccessDenied", v["Key"]
        retention = client.get_object_retention(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Retention"]
        assert retention["Mode"] == "COMPLIANCE"
        assert retention["RetainUntilDate"] > datetime.now(UTC) + timedelta(days=1)


def test_overwrites_and_delete_markers_leave_the_locked_versions_in_use(
    locked: Mission, seaweed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, bucket = seaweed[1].client(), locked.buckets["ee"]
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    pack = next(k for k in objects if "/packs/" in k)
    manifest = next(k for k in objects if "/snapshots/" in k)
    client.put_object(Bucket=bucket, Key=pack, Body=b"ransomware was here")  # a newer version over it
    client.delete_object(Bucket=bucket, Key=manifest)  # a delete marker over it
    cache = locked.root / "var" / "cache" / "manifests"
    for p in cache.iterdir():
        p.unlink()

    r = locked.cli("verify", "--json")
    assert r.code == 1, r.err
    tampered = json.loads(r.out)["stores"]["ee"]["tampered"]
    assert f"{pack}: a newer version was written over it" in tampered
    assert f"{manifest}: hidden by a delete marker; an earlier version is still there" in tampered

    r = locked.cli("restore", "latest", "--registry", "population", "--store", "ee", "--target", str(tmp_path / "r"))
    assert r.code == 0, r.err
    assert tree(tmp_path / "r") == tree(locked.root / "registries" / "population")
    r = locked.cli("verify", "--store", "ee", "--read-data", "--json")
    assert json.loads(r.out)["stores"]["ee"]["damaged"] == []  # the data read is the locked version's

    r = locked.cli("repair", "--store", "ee", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["stores"]["ee"]["uncovered"] == 2
    r = locked.cli("verify", "--json")
    assert r.code == 0, r.out
    assert client.get_object(Bucket=bucket, Key=pack)["Body"].read() != b"ransomware was here"


def test_reused_packs_get_their_retention_extended(locked: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    config = locked.root / "longer.toml"
    config.write_text(locked.config.read_text().replace("object_lock_days = 1", "object_lock_days = 5"))
    r = locked.cli("--config", str(config), "backup", "--registry", "population", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["snapshots"][0]["new_bytes"] == 0  # everything reused
    client, bucket = seaweed[2].client(), locked.buckets["ch"]
    packs = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"] if "/packs/" in o["Key"]]
    assert packs
    for key in packs:
        until = client.get_object_retention(Bucket=bucket, Key=key)["Retention"]["RetainUntilDate"]
        assert until >= datetime.now(UTC) + timedelta(days=5), key


def test_a_bucket_without_object_lock_is_refused(locked: Mission, seaweed) -> None:  # type: ignore[no-untyped-def]
    text = locked.config.read_text().replace(locked.buckets["lu"], "embassy")  # the plain dev bucket
    config = locked.root / "unlocked.toml"
    config.write_text(text)
    r = locked.cli("--config", str(config), "backup", "--registry", "population", "--json")
    assert r.code == 3, r.err
    status = json.loads(r.out)["snapshots"][0]["stores"]["lu"]
    assert "bucket embassy has no Object Lock" in status and "object_lock_days = 1" in status
