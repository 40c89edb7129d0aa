"""The per-run inventory (replication/inventory.py) over two real filesystem stores: what counts as
a snapshot of a store, and what is a finding against it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from engine.conftest import closed_port
from keys import Keyring
from replication.backup import BackupRound
from replication.cache import LocalCache
from replication.crypto import object_id
from replication.inventory import Inventory
from replication.layout import snapshots_prefix
from replication.spec import RegistrySpec, S3Credentials, StoreSpec
from replication.stores import FilesystemBackend, RetryPolicy, Store
from replication.stores.s3 import S3Backend


def fs_store(root: Path, name: str) -> Store:
    return Store(StoreSpec(name, "filesystem", path=root / name), FilesystemBackend(name, root / name))


@pytest.fixture
async def two_stores(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Two snapshots of registries ``a`` and ``b`` in stores ``hostile`` (listed first) and ``honest``."""
    ring = Keyring.create(["a", "b"])
    stores = [fs_store(tmp_path, "hostile"), fs_store(tmp_path, "honest")]
    ids: dict[str, list[str]] = {"a": [], "b": []}
    for i in range(2):
        for name in ("a", "b"):
            reg = tmp_path / "registries" / name
            reg.mkdir(parents=True, exist_ok=True)
            (reg / "f.txt").write_text(f"{name} {i}\n")
            backup = BackupRound(ring, stores, lambda s: True, 2, tmp_path / "cache", tmp_path / "scratch")
            [result] = await backup.run([RegistrySpec(name, "directory", reg)])
            assert result.quorum_met, result
            ids[name].append(result.id)
    yield ring, stores, ids
    for store in stores:
        await store.close()


async def manifest_keys(store: Store, ring: Keyring, registry: str) -> list[str]:
    tag = Inventory(ring, [store]).catalog(registry).tag
    return sorted(o.key for o in await store.list_objects(snapshots_prefix(tag)))


async def test_only_what_verifies_counts_and_the_rest_is_a_finding_against_its_store(two_stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ring, (hostile, honest), ids = two_stores
    a_keys = await manifest_keys(hostile, ring, "a")
    b_key = (await manifest_keys(hostile, ring, "b"))[-1]
    tag_a = a_keys[0].split("/")[1]
    newest = a_keys[-1]
    real = await hostile.get(newest)
    junk = f"{snapshots_prefix(tag_a)}20990101T000000.000000Z_{os.urandom(32).hex()}"
    await hostile.put(junk, os.urandom(500))  # named like the newest of all: random bytes
    renamed = newest.replace(newest.rsplit("/", 1)[1][:8], "20000101")
    await hostile.put(renamed, real)  # a real manifest under a false time
    moved = f"{snapshots_prefix(tag_a)}{b_key.rsplit('/', 1)[1]}"
    await hostile.put(moved, await hostile.get(b_key))  # registry b's manifest under a's name
    forged_body = real[:-64] + SigningKey.generate().sign(real[:-64]).signature
    forged = f"{newest.rsplit('_', 1)[0]}_{object_id(forged_body)}"
    await hostile.put(forged, forged_body)  # under its own id: only the signature tells

    inv = await Inventory(ring, [hostile, honest], LocalCache(tmp_path / "fresh")).registry("a")
    assert set(inv.held["honest"]) == set(ids["a"]) == set(inv.held["hostile"])
    assert inv.newest() is not None and inv.newest().id == ids["a"][-1]  # type: ignore[union-attr]
    assert inv.holders(ids["a"][-1]) == ["hostile", "honest"]
    assert inv.findings_of("honest") == [] and "honest" not in inv.suspect()
    kinds = {f.key: (f.kind, f.detail) for f in inv.findings_of("hostile")}
    assert set(kinds) == {junk, renamed, moved, forged}
    assert kinds[junk][0] == "damaged" and "does not match its id" in kinds[junk][1]
    assert kinds[renamed] == ("damaged", "the time in its name differs from the signed time")
    assert kinds[moved][0] == "damaged" and "another registry" in kinds[moved][1]
    assert kinds[forged][0] == "forged" and "signature does not verify" in kinds[forged][1]
    assert "hostile" in inv.suspect()
    [warning] = inv.warnings()
    assert warning.startswith("store hostile: ") and "; so do 3 more objects there; all ignored" in warning
    manifest, source = await inv.manifest(ids["a"][-1], ["honest"])
    assert source == "honest" and manifest.registry == "a"


async def test_each_store_is_listed_once_per_run_and_an_unlistable_one_is_named(two_stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ring, (_, honest), ids = two_stores
    spec = StoreSpec(
        "down", "s3", endpoint=f"http://127.0.0.1:{closed_port()}", bucket="b", credentials=S3Credentials("k", "s")
    )
    down = Store(spec, S3Backend(spec), retry=RetryPolicy(attempts=2, max_seconds=2, initial_wait=0.01, max_wait=0.02))
    try:
        inventory = Inventory(ring, [down, honest], LocalCache(tmp_path / "cache"))
        first = await inventory.registry("a")
        assert await inventory.registry("a") is first
    finally:
        await down.close()
    assert set(first.unlisted) == {"down"} and first.suspect()["down"].startswith("store down: ")
    assert set(first.held) == {"honest"} and set(first.held["honest"]) == set(ids["a"])
    assert first.newest() == first.newest("honest") and first.newest("down") is None


async def test_latest_is_the_newest_by_verified_time_not_by_a_name(two_stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ring, (hostile, honest), ids = two_stores
    oldest = (await manifest_keys(hostile, ring, "a"))[0]
    # The oldest real manifest, copied under a time far ahead: the newest name of all.
    await hostile.put(oldest.replace(oldest.rsplit("/", 1)[1][:8], "20990101"), await hostile.get(oldest))
    inv = await Inventory(ring, [hostile, honest], LocalCache(None)).registry("a", complete=False)
    latest = await inv.latest()
    assert latest is not None and latest.id == ids["a"][-1]
    assert [r.id for r in [r async for r in inv.newest_first("hostile")]] == ids["a"][::-1]
    assert [f.kind for f in inv.findings] == ["damaged"]


async def test_restore_and_status_list_no_packs_and_backup_lists_them_once_asked(two_stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ring, (_, honest), ids = two_stores
    inventory = Inventory(ring, [honest], LocalCache(tmp_path / "cache"))
    tag = inventory.catalog("a").tag
    stored = {o.key.rsplit("/", 1)[1] for o in await honest.list_objects(f"r/{tag}/packs/")}
    assert stored  # the fixture's backups wrote packs

    light = await inventory.registry("a", complete=False, packs=False)
    assert light.packs("honest") == {}  # restore and status fetch packs by name: none listed
    assert (await light.latest()).id == ids["a"][-1]  # type: ignore[union-attr]

    full = await inventory.registry("a")
    assert full is light and set(full.packs("honest")) == stored
    assert set(full.held["honest"]) == set(ids["a"]) and full.findings == []
