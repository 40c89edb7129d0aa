"""`embassy init`: default config, data dir, keyring, and every store prepared (filesystem and real S3)."""

from __future__ import annotations

import json
import socket
import stat
import time
from pathlib import Path

from conftest import PASSPHRASE, fresh_bucket, make_test_keyring, run_cli, s3_env, s3_store_toml
from dev_stores import DevStore

from embassy.config import default_config_text
from keys import KdfParams, Keyring
from replication.layout import REPO_CONFIG, bundle_key
from replication.repository import RepoConfig, repo_mac_key

ENV = {"EMBASSY_PASSPHRASE": PASSPHRASE}


def check_store_folder(folder: Path, ring: Keyring) -> None:
    """The folder is a repository of ``ring`` holding its current key bundle."""
    repo = RepoConfig.from_bytes((folder / REPO_CONFIG).read_bytes(), repo_mac_key(ring), str(folder))
    assert repo.master_key_id == ring.master_key_id
    bundle = folder / bundle_key(ring.bundle_seq)
    assert Keyring.from_bundle(ring.master_key, bundle.read_bytes()) == ring


def test_init_on_an_empty_folder_writes_everything(tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path, env=ENV)
    assert result.code == 0, result.err
    config = tmp_path / "embassy.toml"
    assert config.read_text() == default_config_text()
    assert f"wrote the default config to {Path('embassy.toml')}" in result.out
    keyring = tmp_path / "var" / "keyring"
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    # A real keyring is sealed with the default cost, recorded in the file's header.
    header = json.loads(keyring.read_bytes())["header"]
    assert header["kdf"]["alg"] == "argon2id13"
    assert (header["kdf"]["memlimit"], header["kdf"]["opslimit"]) == (64 * 1024 * 1024, 18)
    assert Keyring.sealed_params(keyring.read_bytes()) == KdfParams()
    ring = Keyring.unseal(keyring.read_bytes(), PASSPHRASE.encode())
    assert [r.registry for r in ring.registries] == ["mission-site", "population", "land-cadastre"]
    assert f"created the keyring {keyring} (master key {ring.master_key_id})" in result.out
    assert "store lu: ok" in result.out and "store ee: ok" in result.out
    for store in ("lu", "ee"):
        check_store_folder(tmp_path / "var" / "stores" / store, ring)

    # Again: the same config, keyring and stores, nothing rewritten.
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    again = run_cli("init", "--json", cwd=tmp_path, env=ENV)
    assert again.code == 0, again.err
    doc = json.loads(again.out)
    assert doc["wrote_config"] is False and doc["created_keyring"] is False
    assert doc["master_key_id"] == ring.master_key_id
    assert doc["stores"] == {"lu": "ok", "ee": "ok"}
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_init_with_a_new_registry_rewrites_keyring_and_bundle(tmp_path: Path) -> None:
    config = tmp_path / "embassy.toml"
    config.write_text(default_config_text(), encoding="utf-8")
    old = make_test_keyring(tmp_path / "var" / "keyring", ["mission-site", "population"])
    result = run_cli("init", "--json", "--config", str(config), env=ENV)
    assert result.code == 0, result.err
    ring = Keyring.unseal((tmp_path / "var" / "keyring").read_bytes(), PASSPHRASE.encode())
    assert ring.master_key_id == old.master_key_id
    assert ring.registry("population") == old.registry("population")
    assert ring.has_registry("land-cadastre")
    assert ring.bundle_seq == old.bundle_seq + 1
    assert Keyring.sealed_params((tmp_path / "var" / "keyring").read_bytes()) == KdfParams.low_cost_for_tests()
    for store in ("lu", "ee"):
        check_store_folder(tmp_path / "var" / "stores" / store, ring)


def _config(tmp_path: Path, *stores: str, home: str = "KZ") -> Path:
    """A filesystem store at home (jurisdiction ``home``) and the given stores."""
    fs = (
        f'[[stores]]\nname = "home"\nkind = "filesystem"\npath = "{tmp_path / "home-store"}"\njurisdiction = "{home}"\n'
    )
    path = tmp_path / "embassy.toml"
    path.write_text('[mission]\nname = "M"\njurisdiction = "KZ"\n' + fs + "".join(stores), encoding="utf-8")
    return path


def _s3_objects(store: DevStore, bucket: str) -> dict[str, bytes]:
    client = store.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_init_publishes_to_real_s3_stores(seaweed: list[DevStore], tmp_path: Path) -> None:
    plain = fresh_bucket(seaweed[0])
    locked = fresh_bucket(seaweed[1], locked=True)
    config = _config(
        tmp_path,
        s3_store_toml("lu", seaweed[0], plain),
        s3_store_toml("ee", seaweed[1], locked, jurisdiction="EE", lock_days=1),
    )
    ring = make_test_keyring(tmp_path / "var" / "keyring", ["population"])
    env = {**ENV, **s3_env(seaweed[0])}
    result = run_cli("init", "--json", "--config", str(config), env=env)
    assert result.code == 0, result.err
    assert json.loads(result.out)["stores"] == {"home": "ok", "lu": "ok", "ee": "ok"}
    for store, bucket in ((seaweed[0], plain), (seaweed[1], locked)):
        objects = _s3_objects(store, bucket)
        assert set(objects) == {REPO_CONFIG, bundle_key(ring.bundle_seq)}
        assert RepoConfig.from_bytes(objects[REPO_CONFIG], repo_mac_key(ring), bucket).master_key_id == (
            ring.master_key_id
        )
        assert Keyring.from_bundle(ring.master_key, objects[bundle_key(ring.bundle_seq)]) == ring
    # On the Object Lock bucket, what init wrote is locked for object_lock_days plus the slack (a day
    # at least: see replication/retention.py), like every object the engine writes.
    retention = seaweed[1].client().get_object_retention(Bucket=locked, Key=REPO_CONFIG)["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    remaining = retention["RetainUntilDate"].timestamp() - time.time()
    assert 47 * 3600 < remaining <= 48 * 3600 + 60
    check_store_folder(tmp_path / "home-store", ring)


def test_store_of_another_master_key_is_refused(tmp_path: Path) -> None:
    """A store already holding another mission's repository is a failed store (exit 3), named, untouched."""
    other = tmp_path / "other"
    other.mkdir()
    other_config = _config(other, home="")
    make_test_keyring(other / "var" / "keyring", [])
    assert run_cli("init", "--config", str(other_config), env=ENV).code == 0

    mine = tmp_path / "mine"
    mine.mkdir()
    foreign = f'[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "{other / "home-store"}"\njurisdiction = "LU"\n'
    config = _config(mine, foreign)
    make_test_keyring(mine / "var" / "keyring", [])
    before = sorted(p.name for p in (other / "home-store" / "keys").iterdir())
    result = run_cli("init", "--config", str(config), env=ENV)
    assert result.code == 3, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    assert "store lu: failed: store lu: holds the repository of another mission (master key " in result.out
    # Nothing of ours was written into the other mission's store.
    assert sorted(p.name for p in (other / "home-store" / "keys").iterdir()) == before


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_s3_store_is_degraded(seaweed: list[DevStore], tmp_path: Path) -> None:
    bucket = fresh_bucket(seaweed[0])
    down = s3_store_toml("down", seaweed[0], bucket, jurisdiction="EE").replace(
        seaweed[0].endpoint, f"http://127.0.0.1:{_closed_port()}"
    )
    config = _config(tmp_path, s3_store_toml("lu", seaweed[0], bucket), down)
    make_test_keyring(tmp_path / "var" / "keyring", [])
    result = run_cli("init", "--json", "--config", str(config), env={**ENV, **s3_env(seaweed[0])})
    assert result.code == 3, (result.code, result.out, result.err)
    stores = json.loads(result.out)["stores"]
    assert stores["home"] == "ok" and stores["lu"] == "ok"
    assert stores["down"].startswith("failed: store down: unavailable after")
    assert "Could not connect to the endpoint URL" in stores["down"]
    assert "store down: failed: store down: unavailable" in result.err
    assert "some stores could not be prepared (see above)" in result.err


def test_wrong_s3_credentials_fail_fast_naming_the_store(seaweed: list[DevStore], tmp_path: Path) -> None:
    bucket = fresh_bucket(seaweed[0])
    config = _config(tmp_path, s3_store_toml("lu", seaweed[0], bucket))
    make_test_keyring(tmp_path / "var" / "keyring", [])
    env = {**ENV, **s3_env(seaweed[0]), "TEST_S3_SECRET": "not-the-secret"}
    started = time.monotonic()
    result = run_cli("init", "--json", "--config", str(config), env=env)
    elapsed = time.monotonic() - started
    assert result.code == 3, (result.code, result.out, result.err)
    failure = json.loads(result.out)["stores"]["lu"]
    assert failure.startswith("failed: store lu: ")
    assert "access denied" in failure and "credentials" in failure
    assert elapsed < 5, f"a permanent error was retried: {elapsed:.1f}s"
    assert _s3_objects(seaweed[0], bucket) == {}
