"""A store that alters, swaps or forges objects is caught; hostile manifests cannot escape the target."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import PASSPHRASE
from nacl.signing import SigningKey

from engine.conftest import Mission
from keys import Keyring
from replication.backup import utc_time
from replication.catalog import Catalog
from replication.crypto import object_id
from replication.inventory import Inventory
from replication.manifest import Entry, SnapshotHeader, encode_snapshot
from replication.stores import open_store

GOOD: dict[str, str] = {}


@pytest.fixture(scope="module")
def backed_up(mission: Mission) -> Mission:
    r = mission.cli("backup", "--registry", "population", "--json")
    assert r.code == 0, r.err
    GOOD["id"] = json.loads(r.out)["snapshots"][0]["id"]
    return mission


def ring_of(mission: Mission) -> Keyring:
    return Keyring.unseal((mission.root / "var" / "keyring").read_bytes(), PASSPHRASE.encode())


def store_client(mission: Mission, seaweed, name: str):  # type: ignore[no-untyped-def]
    return seaweed[["lu", "ee", "ch"].index(name)].client(), mission.buckets[name]


def keys_under(client, bucket: str, part: str) -> list[str]:  # type: ignore[no-untyped-def]
    objs = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in objs if part in o["Key"])


def flip(client, bucket: str, key: str, pos: int) -> bytes:  # type: ignore[no-untyped-def]
    data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    bad = bytearray(data)
    bad[pos] ^= 0x01
    client.put_object(Bucket=bucket, Key=key, Body=bytes(bad))
    return data


def test_a_flipped_byte_in_a_pack_is_caught_and_another_store_serves(
    backed_up: Mission, seaweed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, bucket = store_client(backed_up, seaweed, "lu")
    packs = keys_under(client, bucket, "/packs/")
    sizes = {k: client.head_object(Bucket=bucket, Key=k)["ContentLength"] for k in packs}
    victim = max(sizes, key=lambda k: sizes[k])
    original = flip(client, bucket, victim, 100)
    try:
        r = backed_up.cli(
            "restore", "latest", "--registry", "population", "--target", str(tmp_path / "a"), "--store", "lu", "--json"
        )
        assert r.code == 4, r.err
        assert "store lu" in r.err and victim in r.err
        assert "error" in json.loads(r.out)
        assert "Traceback" not in r.err
        r = backed_up.cli("restore", "latest", "--registry", "population", "--target", str(tmp_path / "b"))
        assert r.code == 0, r.err  # lu's damaged pack is read from another store
        assert (tmp_path / "b" / "a" / "big.bin").read_bytes() == (
            backed_up.root / "registries" / "population" / "a" / "big.bin"
        ).read_bytes()
    finally:
        client.put_object(Bucket=bucket, Key=victim, Body=original)


def test_a_flipped_byte_in_a_manifest_is_caught(backed_up: Mission, seaweed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, bucket = store_client(backed_up, seaweed, "ee")
    manifest = keys_under(client, bucket, "/snapshots/")[-1]
    original = flip(client, bucket, manifest, 200)
    cache = backed_up.root / "var" / "cache" / "manifests"
    saved = {p: p.read_bytes() for p in cache.iterdir()}
    for p in saved:
        p.unlink()  # make the CLI read the store's copy
    try:
        r = backed_up.cli(
            "restore", "latest", "--registry", "population", "--target", str(tmp_path / "a"), "--store", "ee"
        )
        assert r.code == 4, r.err
        assert "store ee" in r.err and manifest in r.err and "does not match its id" in r.err
    finally:
        client.put_object(Bucket=bucket, Key=manifest, Body=original)
        for p, data in saved.items():
            p.write_bytes(data)


async def _plant(mission: Mission, name: str, data: bytes, catalog: Catalog, time: str) -> str:
    spec = next(
        s
        for s in __import__("embassy.config", fromlist=["load_config"]).load_config(mission.config, mission.env).stores
        if s.name == name
    )
    store = open_store(spec)
    try:
        sid = object_id(data)
        await store.put(catalog.key_for(time, sid), data)
        return sid
    finally:
        await store.close()


def plant_manifest(mission: Mission, store: str, edit, signing: SigningKey | None = None) -> str:  # type: ignore[no-untyped-def]
    """Re-encode the latest manifest with ``edit`` applied, signed (by default) with the mission's key."""
    ring = ring_of(mission)
    catalog = Catalog(ring, "population")

    async def go() -> str:
        spec = next(
            s
            for s in __import__("embassy.config", fromlist=["load_config"])
            .load_config(mission.config, mission.env)
            .stores
            if s.name == store
        )
        st = open_store(spec)
        try:
            inv = await Inventory(ring, [st]).registry("population")
            ref = inv.ordered()[-1]
            manifest, _ = await inv.manifest(ref.id)
        finally:
            await st.close()
        time = utc_time()
        manifest = edit(replace(manifest, time=time, previous=ref.id))
        key_id, key = ring.active_data_key("population")
        header = SnapshotHeader(catalog.tag, time, ring.signing.id, key_id)
        data = encode_snapshot(manifest, header, key, signing or ring.signing_key())
        return await _plant(mission, store, data, catalog, time)

    return asyncio.run(go())


def test_a_manifest_signed_by_another_key_is_refused(backed_up: Mission, tmp_path: Path) -> None:
    forged = plant_manifest(backed_up, "ch", lambda m: m, signing=SigningKey.generate())
    where = ["--registry", "population", "--store", "ch", "--json"]
    r = backed_up.cli("restore", forged, "--target", str(tmp_path / "a"), *where)
    assert r.code == 4, r.err
    assert "signature does not verify" in r.err and "store ch" in r.err
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    # `latest` is the newest snapshot that verifies: the forgery is skipped, and named.
    r = backed_up.cli("restore", "latest", "--target", str(tmp_path / "b"), *where)
    assert r.code == 0, r.err
    assert json.loads(r.out)["id"] != forged
    assert "store ch" in r.err and "signature does not verify" in r.err


def test_hostile_paths_in_a_signed_manifest_are_refused(backed_up: Mission, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()

    def escape(m):  # type: ignore[no-untyped-def]
        victim = next(e for e in m.entries if e.type == "file" and e.size)
        return replace(m, entries=[*m.entries, replace(victim, path="../../outside/x")])

    plant_manifest(backed_up, "ee", escape)
    target = tmp_path / "t" / "target"
    r = backed_up.cli("restore", "latest", "--registry", "population", "--target", str(target), "--store", "ee")
    assert r.code == 4, r.err
    assert "'../../outside/x' is not a safe relative path" in r.err
    assert list(outside.iterdir()) == [] and not (target.exists() and any(target.iterdir()))

    def absolute(m):  # type: ignore[no-untyped-def]
        victim = next(e for e in m.entries if e.type == "file")
        return replace(m, entries=[*m.entries, replace(victim, path=str(outside / "y"))])

    plant_manifest(backed_up, "ee", absolute)
    r = backed_up.cli("restore", "latest", "--registry", "population", "--target", str(target), "--store", "ee")
    assert r.code == 4 and "not a safe relative path" in r.err
    assert list(outside.iterdir()) == []


def test_a_file_beneath_a_restored_symlink_is_refused(backed_up: Mission, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()

    def through_link(m):  # type: ignore[no-untyped-def]
        victim = next(e for e in m.entries if e.type == "file" and e.size)
        link = Entry("sneaky", "symlink", 0o777, 0, target=str(outside))
        return replace(m, entries=[*m.entries, link, replace(victim, path="sneaky/planted")])

    plant_manifest(backed_up, "lu", through_link)
    r = backed_up.cli("restore", "latest", "--registry", "population", "--target", str(tmp_path / "t"), "--store", "lu")
    assert r.code == 4, r.err
    assert "'sneaky/planted' lies beneath 'sneaky', which is a symlink" in r.err
    assert list(outside.iterdir()) == []


def test_a_symlink_already_in_the_target_is_never_followed(backed_up: Mission, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "a")  # the snapshot has a real folder "a"
    r = backed_up.cli("restore", GOOD["id"], "--registry", "population", "--target", str(target), "--force")
    assert r.code == 0, r.err  # --force replaces the link with the snapshot's folder ...
    assert list(outside.iterdir()) == []  # ... and nothing was written through it
    assert (target / "a").is_dir() and not (target / "a").is_symlink()
    (target / "empty.dat").unlink()
    os.symlink(outside / "file", target / "empty.dat")  # a file the snapshot writes
    r = backed_up.cli("restore", GOOD["id"], "--registry", "population", "--target", str(target), "--force")
    assert r.code == 0, r.err  # the link is replaced, not written through
    assert list(outside.iterdir()) == []
    assert (target / "empty.dat").is_file() and not (target / "empty.dat").is_symlink()
