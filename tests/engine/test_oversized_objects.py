"""A hostile store answering with objects far larger than the format allows: named as damage, never
read whole, and the command's memory stays at its usual peak (measured on the real process)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from conftest import PASSPHRASE, fresh_bucket, make_test_keyring, s3_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: bench/ is not installed
from bench import procs

MiB = 1 << 20
GiB = 1 << 30


def config(root: Path, dev, bucket: str) -> Path:  # type: ignore[no-untyped-def]
    """Two hostile stores first (so every command meets them first), then two honest ones."""
    text = (
        '[mission]\nname = "Test Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
        '[[registries]]\nname = "population"\nkind = "directory"\npath = "registries/population"\n'
        f'[[stores]]\nname = "de"\nkind = "s3"\nendpoint = "{dev.endpoint}"\nbucket = "{bucket}"\n'
        'jurisdiction = "DE"\naccess_key_env = "TEST_S3_ACCESS"\nsecret_key_env = "TEST_S3_SECRET"\n'
    )
    for name in ("ch", "lu", "ee"):
        text += f'[[stores]]\nname = "{name}"\nkind = "filesystem"\npath = "stores/{name}"\njurisdiction = "{name.upper()}"\n'
    path = root / "embassy.toml"
    path.write_text(text + "[replication]\nquorum = 2\n")
    return path


def test_an_oversized_manifest_is_damage_and_memory_stays_flat(tmp_path: Path, seaweed) -> None:  # type: ignore[no-untyped-def]
    dev = seaweed[0]
    bucket = fresh_bucket(dev)
    root = tmp_path / "m"
    regs = root / "registries" / "population"
    regs.mkdir(parents=True)
    for i in range(20):
        (regs / f"part-{i}.bin").write_bytes(os.urandom(256 << 10))
    cfg = config(root, dev, bucket)
    make_test_keyring(root / "var" / "keyring", ["population"])
    env = {**os.environ, **s3_env(dev), "EMBASSY_PASSPHRASE": PASSPHRASE}
    env = {k: v for k, v in env.items() if k != "EMBASSY_PASSPHRASE_FILE"}

    def run(*args: str) -> procs.Measured:
        shutil.rmtree(root / "var" / "cache", ignore_errors=True)  # every manifest comes from the stores
        shutil.rmtree(root / "out", ignore_errors=True)
        return procs.run([sys.executable, "-m", "embassy", "--config", str(cfg), *args], env=env, cwd=root, timeout=300)

    backup = run("backup", "--json")
    assert backup.returncode == 0, backup.stderr
    snapshot = json.loads(backup.stdout)["snapshots"][0]["id"]
    restore_args = ("restore", snapshot, "--registry", "population", "--target", str(root / "out"), "--json")
    usual = [run("verify", "--json"), run(*restore_args)]
    assert [m.returncode for m in usual] == [0, 0], [m.stderr for m in usual]

    # The hostile stores swap the manifest for something huge: 2 GiB on the filesystem store (a
    # sparse file, cheap to make), 256 MiB served by the S3 store.
    (key,) = [str(p.relative_to(root / "stores" / "ch")) for p in (root / "stores" / "ch" / "r").rglob("*_*")]
    with (root / "stores" / "ch" / key).open("r+b") as f:
        f.truncate(2 * GiB)
    dev.client().put_object(Bucket=bucket, Key=key, Body=b"\0" * (256 * MiB))

    verify = run("verify", "--json")
    assert verify.returncode == 1, verify.stderr
    report = json.loads(verify.stdout)
    for store in ("de", "ch"):
        assert report["stores"][store]["damaged"] == [key], report["stores"][store]
    assert report["stores"]["lu"]["ok"] and report["stores"]["ee"]["ok"]

    restore = run(*restore_args)
    assert restore.returncode == 0, restore.stderr
    assert json.loads(restore.stdout)["store"] in ("lu", "ee")
    assert sorted(p.name for p in (root / "out").iterdir()) == sorted(p.name for p in regs.iterdir())

    for before, after in zip(usual, (verify, restore), strict=True):
        print(
            f"{after.argv[5]}: peak RSS {before.peak_rss_single / MiB:.0f} MiB usual, {after.peak_rss_single / MiB:.0f} MiB hostile"
        )
        assert after.peak_rss_single <= before.peak_rss_single + 40 * MiB, (
            after.argv[5],
            before.peak_rss_single // MiB,
            after.peak_rss_single // MiB,
        )
