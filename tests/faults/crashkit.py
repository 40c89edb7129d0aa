"""A mission for crash tests: registries on disk, two filesystem stores, `embassy` run as a process
that the test kills with SIGKILL once a condition it waits for holds."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conftest import PASSPHRASE, make_test_keyring, s3_env, s3_store_toml

from embassy.config import Config, load_config
from keys import Keyring

if TYPE_CHECKING:
    from dev_stores import DevStore

STORES = ("lu", "ee")


@dataclass
class CrashMission:
    root: Path
    config_path: Path
    ring: Keyring
    stores: tuple[str, ...] = STORES
    s3: tuple[str, Any, str] | None = None  # store name, boto3 client, bucket
    s3_env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        return load_config(self.config_path, self.s3_env)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
        env["EMBASSY_PASSPHRASE"] = PASSPHRASE
        return {**env, **self.s3_env}

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "embassy", "--config", str(self.config_path), *args],
            cwd=self.root, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "embassy", "--config", str(self.config_path), *args],
            cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def packs(self, store: str) -> dict[str, tuple[Any, ...]]:
        """Packs of ``store``: name -> identity (a folder's inode and mtime, a bucket's ETag and
        modification time): a pack written again gets a new one."""
        out: dict[str, tuple[Any, ...]] = {}
        if self.s3 is not None and store == self.s3[0]:
            _, client, bucket = self.s3
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="r/"):
                for obj in page.get("Contents", []):
                    if "/packs/" in obj["Key"]:
                        out[obj["Key"].rsplit("/", 1)[-1]] = (obj["ETag"], obj["LastModified"])
            return out
        for p in (self.root / "stores" / store).glob("r/*/packs/*/*"):
            if not p.name.startswith("."):
                st = p.stat()
                out[p.name] = (st.st_ino, st.st_mtime_ns)
        return out

    def snapshot_files(self, store: str) -> list[Path]:
        return [p for p in (self.root / "stores" / store).glob("r/*/snapshots/**/*") if p.is_file()]


def make_mission(
    root: Path, registries: str, names: list[str], s3: tuple[DevStore, str] | None = None, replication: str = ""
) -> CrashMission:
    """Two filesystem stores, or (``s3``: a SeaweedFS server and a fresh bucket) one and a bucket."""
    folders = STORES if s3 is None else STORES[:1]
    stores = "".join(
        f'[[stores]]\nname = "{s}"\nkind = "filesystem"\npath = "stores/{s}"\njurisdiction = "{s.upper()}"\n'
        for s in folders
    )
    if s3 is not None:
        stores += s3_store_toml("ch", s3[0], s3[1], "CH")
    path = root / "embassy.toml"
    path.write_text(
        '[mission]\nname = "Crash Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
        f"[replication]\nquorum = 2\n{replication}{registries}{stores}"
    )
    env = s3_env(s3[0]) if s3 is not None else {}
    ring = make_test_keyring(load_config(path, env).keyring_path, names)
    if s3 is None:
        return CrashMission(root, path, ring)
    return CrashMission(root, path, ring, (*folders, "ch"), ("ch", s3[0].client(), s3[1]), s3_env(s3[0]))


def random_files(folder: Path, count: int, size: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"part-{seed}-{i:03}.bin").write_bytes(os.urandom(size))


def wal_database(path: Path, rows: int) -> sqlite3.Connection:
    """A WAL-mode database whose last transaction is still in the WAL (the connection stays open
    and never checkpoints), so a backup must copy it through SQLite's backup API."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    db.executemany("INSERT INTO t (body) VALUES (?)", ((os.urandom(1000),) for _ in range(rows)))
    db.commit()
    return db


def kill_when(proc: subprocess.Popen[str], condition: Callable[[], bool], timeout: float = 120) -> bool:
    """SIGKILL ``proc`` as soon as ``condition`` holds; False if it ended first (condition never met)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
            return True
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate(timeout=30)
            raise AssertionError("the condition to kill on never came")
        time.sleep(0.002)  # polling the store's folder: the event is a file appearing
    proc.communicate(timeout=30)
    return False
