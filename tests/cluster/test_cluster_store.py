"""A store abroad that is a SeaweedFS cluster (master, two volume servers, filer, S3 gateway, every
object on both volume servers) loses a volume server to SIGKILL in the middle of a backup.

What must hold, as an operator at the foreign site replaces the dead server: the backup finishes
with every store ok, ``verify --read-data`` reads every object back (those written before the kill
now from the one surviving copy) and a restore from the cluster gives the registry's exact bytes.
The store secrets and the passphrase reach the CLI the way systemd gives them, as files in
``$CREDENTIALS_DIRECTORY``, not as environment variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LOCKED_BUCKET, PASSPHRASE, fresh_bucket, listening_addresses, make_test_keyring, run_cli
from dev_cluster import DevCluster
from dev_stores import DevStore

KILL_AFTER_PACKS = 3  # pack objects seen in the cluster's bucket before the volume server dies
FILES = 8
FILE_BYTES = 12 << 20  # 96 MiB of random data: ~12 packs of ~8 MiB, several seconds of backup


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DevCluster]:
    c = DevCluster.create(tmp_path / "cluster", start_port=31000 + (os.getpid() % 40) * 100)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def write_registry(root: Path) -> dict[str, bytes]:
    root.mkdir(parents=True)
    files = {}
    for i in range(FILES):
        data = os.urandom(FILE_BYTES)
        (root / f"part-{i}.bin").write_bytes(data)
        files[f"part-{i}.bin"] = data
    text = "".join(f"{i},citizen {i},{i * 7919 % 10007}\n" for i in range(100_000)).encode()
    (root / "index.csv").write_bytes(text)
    files["index.csv"] = text
    return files


def write_config(root: Path, cluster: DevCluster, dev: DevStore, dev_bucket: str) -> Path:
    path = root / "embassy.toml"
    path.write_text(f"""[mission]
name = "Cluster Test Mission"
jurisdiction = "KZ"
data_dir = "var"

[[registries]]
name = "population"
kind = "directory"
path = "registries/population"

[[stores]]
name = "lu"
kind = "s3"
endpoint = "{cluster.endpoint}"
bucket = "{LOCKED_BUCKET}"
jurisdiction = "LU"
access_key_env = "LU_ACCESS_KEY"
secret_key_env = "LU_SECRET_KEY"
object_lock_days = 1

[[stores]]
name = "ee"
kind = "s3"
endpoint = "{dev.endpoint}"
bucket = "{dev_bucket}"
jurisdiction = "EE"
access_key_env = "EE_ACCESS_KEY"
secret_key_env = "EE_SECRET_KEY"

[replication]
quorum = 2
""")
    return path


def write_credentials(folder: Path, cluster: DevCluster, dev: DevStore) -> dict[str, str]:
    """A credentials folder as systemd lays it out for LoadCredential=NAME, and the environment
    the unit gives: the folder's path and the passphrase file's, no secret."""
    folder.mkdir(mode=0o700)
    secrets = {
        "LU_ACCESS_KEY": cluster.access_key,
        "LU_SECRET_KEY": cluster.secret_key,
        "EE_ACCESS_KEY": dev.access_key,
        "EE_SECRET_KEY": dev.secret_key,
        "embassy-passphrase": PASSPHRASE,
    }
    for name, value in secrets.items():
        (folder / name).write_text(value + "\n")
        (folder / name).chmod(0o400)
    return {"CREDENTIALS_DIRECTORY": str(folder), "EMBASSY_PASSPHRASE_FILE": str(folder / "embassy-passphrase")}


def pack_keys(client: Any) -> set[str]:
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=LOCKED_BUCKET, Prefix="r/"):
        keys.update(o["Key"] for o in page.get("Contents", []) if "/packs/" in o["Key"])
    return keys


def cli_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMBASSY_", "AWS_"))}
    return {**env, **extra}


def test_backup_verify_and_restore_survive_a_volume_server_killed_mid_backup(
    tmp_path: Path, cluster: DevCluster, seaweed: list[DevStore]
) -> None:
    root = tmp_path / "mission"
    source = write_registry(root / "registries" / "population")
    config = write_config(root, cluster, seaweed[0], fresh_bucket(seaweed[0]))
    make_test_keyring(root / "var" / "keyring", ["population"])
    env = write_credentials(tmp_path / "credentials", cluster, seaweed[0])

    for node in cluster.nodes:  # every socket of every part on the loopback, HTTP and gRPC
        assert node.process is not None
        addresses = listening_addresses(node.process.pid)
        assert {f"127.0.0.1:{node.port}", f"127.0.0.1:{node.port + 10000}"} <= set(addresses), (node.name, addresses)
        assert all(a.startswith("127.0.0.1:") for a in addresses), (node.name, addresses)

    doomed, survivor = cluster.volumes
    client = cluster.client()
    backup = subprocess.Popen(
        [sys.executable, "-m", "embassy", "--config", str(config), "backup", "--json"],
        cwd=root, env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The event: the cluster holds KILL_AFTER_PACKS packs of this backup and it is still running.
        deadline = time.monotonic() + 120
        while len(before := pack_keys(client)) < KILL_AFTER_PACKS:
            assert backup.poll() is None, f"the backup ended before {KILL_AFTER_PACKS} packs: {backup.stderr}"
            assert time.monotonic() < deadline, "no packs in the cluster after 120 s"
            time.sleep(0.05)
        placement = cluster.volume_placement()
        assert placement and all(holders == {doomed.address, survivor.address} for holders in placement.values()), (
            placement
        )
        cluster.kill_volume_server(doomed)
        assert backup.poll() is None, "the backup was over before the volume server died"
        assert doomed.address not in cluster.registered_volume_servers()
        replacement = cluster.add_volume_server()
        out, err = backup.communicate(timeout=240)
    finally:
        if backup.poll() is None:
            backup.kill()
            backup.communicate()

    assert backup.returncode == 0, err
    (snapshot,) = json.loads(out)["snapshots"]
    assert snapshot["stores"] == {"lu": "ok", "ee": "ok"} and snapshot["quorum_met"] is True
    assert snapshot["bytes"] == sum(len(b) for b in source.values())
    after = pack_keys(client)
    assert before < after, "every pack was written before the kill: not the middle of the backup"
    print(
        f"\ncluster: {len(before)} of {len(after)} packs written before volume server {doomed.name} was killed; "
        f"{replacement.name} replaced it"
    )
    # What was written before the kill now has one copy left, on the survivor; the doomed server
    # stays dead for everything below.
    assert doomed.process is not None and doomed.process.poll() is not None
    held = cluster.volume_placement()
    assert {v for v, holders in held.items() if holders == {survivor.address}} >= set(placement)

    verify = run_cli("--config", str(config), "verify", "--store", "lu", "--read-data", "--json", env=env, cwd=root)
    assert verify.code == 0, verify.err
    report = json.loads(verify.out)
    assert report["ok"] is True, report
    lu = report["stores"]["lu"]
    assert lu["ok"] is True and lu["missing"] == [] and lu["damaged"] == [] and lu["checked"] >= len(after), lu

    target = tmp_path / "restored"
    restore = run_cli(
        "--config", str(config), "restore", "latest", "--registry", "population", "--store", "lu",
        "--target", str(target), "--json", env=env, cwd=root,
    )  # fmt: skip
    assert restore.code == 0, restore.err
    assert json.loads(restore.out)["id"] == snapshot["id"]
    restored = {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert restored.keys() == source.keys()
    assert all(restored[name] == data for name, data in source.items())
