"""A small mission for the prune tests: one directory registry, three real SeaweedFS stores.

The registry holds ``shared.bin`` (never changes, so every snapshot reuses the first backup's pack)
and ``v.bin`` (new random bytes before each backup, so each backup uploads one pack of its own).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import PASSPHRASE, fresh_bucket, make_test_keyring, s3_env, s3_store_toml
from dev_stores import DevStore
from engine.conftest import Mission, write_config

from embassy.backup_service import run_backup
from embassy.config import load_config
from keys import Keyring

REGISTRY = "population"


@dataclass
class PruneMission(Mission):
    seaweed: list[DevStore] = field(default_factory=list)
    ring: Keyring | None = None
    states: dict[str, Path] = field(default_factory=dict)  # snapshot id -> copy of the registry then

    @property
    def registry(self) -> Path:
        return self.root / "registries" / REGISTRY

    def change(self, size: int = 200_000) -> None:
        (self.registry / "v.bin").write_bytes(os.urandom(size))

    def backup(self, registry: str = REGISTRY, cli: bool = False) -> dict[str, Any]:
        """One snapshot of ``registry`` (through the library, which spares a process start, or the
        CLI); a copy of what the registry holds is kept for comparing restores."""
        if cli:
            r = self.cli("backup", "--json", "--registry", registry)
            assert r.code == 0, r.err
            snap: dict[str, Any] = json.loads(r.out)["snapshots"][0]
        else:
            config = load_config(self.config, self.env)
            [result] = asyncio.run(run_backup(config, self.ring, [config.registry(registry)]))
            snap = result.to_json()
            assert snap["quorum_met"] and set(snap["stores"].values()) == {"ok"}, snap
        copy = self.root / "states" / snap["id"]
        if registry == SLOW:
            copy.mkdir(parents=True)
            shutil.copy(self.root / "registries" / "slow.copy", copy / f"{SLOW}.dump")
        else:
            shutil.copytree(self.registry, copy)
        self.states[snap["id"]] = copy
        return snap

    def prune(self, *args: str, expect: int = 0) -> dict[str, Any]:
        r = self.cli("prune", "--json", *args)
        assert r.code == expect, r.err
        doc: dict[str, Any] = json.loads(r.out)
        return doc

    def client(self, store: str) -> Any:
        return self.seaweed[("lu", "ee", "ch").index(store)].client()

    def keys(self, store: str, prefix: str = "r/") -> set[str]:
        """Current keys in a store's bucket."""
        client = self.client(store)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.buckets[store], Prefix=prefix)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    def versions(self, store: str, prefix: str = "r/") -> set[tuple[str, str]]:
        """(key, version id) of every version and delete marker in a store's bucket."""
        client = self.client(store)
        pages = client.get_paginator("list_object_versions").paginate(Bucket=self.buckets[store], Prefix=prefix)
        return {
            (v["Key"], v["VersionId"])
            for page in pages
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        }


# A dump that takes its time: random pieces with pauses between, so that a backup of it has packs
# uploaded but no manifest yet for seconds. It keeps a copy of what it wrote, to compare restores.
SLOW_DUMP = """
import os, sys, time
copy = open(sys.argv[1], "wb")
pieces, pause = open(sys.argv[2]).read().split()
for piece in range(int(pieces)):
    data = os.urandom(24 << 20)  # enough for the backup to fill, seal and upload a pack (8 MiB) at once
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    copy.write(data)
    open(sys.argv[1] + ".written", "w").close()
    time.sleep(float(pause))
"""
SLOW = "slow-dump"


def build(
    root: Path,
    seaweed: list[DevStore],
    keep: str = "last = 2, daily = 0, weekly = 0, monthly = 0",
    locked: bool = False,
    lock_days: int = 0,
    slow: bool = False,
) -> PruneMission:
    reg = root / "registries" / REGISTRY
    reg.mkdir(parents=True)
    (reg / "shared.bin").write_bytes(os.urandom(300_000))
    buckets = {}
    stores = ""
    for name, store, juris in zip(("lu", "ee", "ch"), seaweed, ("LU", "EE", "CH"), strict=True):
        buckets[name] = fresh_bucket(store, locked=locked)
        stores += s3_store_toml(name, store, buckets[name], juris, lock_days) + "\n"
    registries = f'\n[[registries]]\nname = "{REGISTRY}"\nkind = "directory"\npath = "registries/{REGISTRY}"\n'
    if slow:
        (root / "registries" / "slow.py").write_text(SLOW_DUMP)
        (root / "registries" / "slow.conf").write_text("1 0")  # pieces, pause in seconds
        command = [sys.executable, *(str(root / "registries" / f) for f in ("slow.py", "slow.copy", "slow.conf"))]
        registries += f'\n[[registries]]\nname = "{SLOW}"\nkind = "command"\ncommand = {json.dumps(command)}\n'
    config = write_config(root, stores, registries=registries)
    config.write_text(config.read_text() + f"\n[replication]\nkeep = {{ {keep} }}\n")
    ring = make_test_keyring(root / "var" / "keyring", [REGISTRY, SLOW] if slow else [REGISTRY])
    env = {**s3_env(seaweed[0]), "EMBASSY_PASSPHRASE": PASSPHRASE}
    mission = PruneMission(root, config, env, buckets, seaweed=seaweed, ring=ring)
    mission.change()
    return mission


def same_files(a: Path, b: Path) -> bool:
    """Same relative paths and bytes (the registry has regular files only)."""

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    return files(a) == files(b)
