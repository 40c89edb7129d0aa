"""A store holding another mission's repository is set aside for the run, never written to, never taken over."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import PASSPHRASE, make_test_keyring, run_cli

from keys import Keyring
from replication.layout import REPO_CONFIG, bundle_key
from replication.repository import RepoConfig, repo_mac_key


def tree_bytes(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


class Mission:
    def __init__(self, root: Path) -> None:
        self.root = root
        regs = root / "registries" / "population"
        regs.mkdir(parents=True)
        (regs / "people.csv").write_text("id,name\n1,Aigerim\n" * 500)
        stores = "".join(
            f'[[stores]]\nname = "{n}"\nkind = "filesystem"\npath = "{root / "stores" / n}"\njurisdiction = "{n.upper()}"\n'
            for n in ("lu", "ee", "ch")
        )
        (root / "embassy.toml").write_text(
            '[mission]\nname = "Test Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
            '[[registries]]\nname = "population"\nkind = "directory"\npath = "registries/population"\n'
            f"{stores}[replication]\nquorum = 2\n"
        )
        self.ring = make_test_keyring(root / "var" / "keyring", ["population"])

    def cli(self, *args: str):  # type: ignore[no-untyped-def]
        return run_cli("--config", str(self.root / "embassy.toml"), *args, env={"EMBASSY_PASSPHRASE": PASSPHRASE})


@pytest.fixture
def mission(tmp_path: Path) -> tuple[Mission, Path, Keyring]:
    m = Mission(tmp_path / "m")
    # ch's folder holds another mission's repository: its config, its bundle, one of its objects.
    other = Keyring.create(["archive"])
    ch = tmp_path / "m" / "stores" / "ch"
    (ch / "keys").mkdir(parents=True)
    (ch / REPO_CONFIG).write_bytes(
        RepoConfig(other.master_key_id, "2026-11-01T00:00:00Z").to_bytes(repo_mac_key(other))
    )
    (ch / bundle_key(other.bundle_seq)).write_bytes(other.bundle())
    (ch / "r" / "0123456789abcdef01234567" / "snapshots").mkdir(parents=True)
    (ch / "r" / "0123456789abcdef01234567" / "snapshots" / "x").write_bytes(b"theirs")
    return m, ch, other


def foreign_line(other: Keyring) -> str:
    return f"store ch: holds the repository of another mission (master key {other.master_key_id}); set aside, nothing written there"


def test_backup_sets_the_foreign_store_aside_and_goes_on(mission: tuple[Mission, Path, Keyring]) -> None:
    m, ch, other = mission
    before = tree_bytes(ch)
    r = m.cli("backup", "--json")
    assert r.code == 3, (r.code, r.out, r.err)
    snap = json.loads(r.out)["snapshots"][0]
    assert snap["quorum_met"] is True
    assert snap["stores"]["lu"] == snap["stores"]["ee"] == "ok"
    assert snap["stores"]["ch"] == "failed: " + foreign_line(other)
    assert foreign_line(other) in r.err
    assert tree_bytes(ch) == before  # no lock, no bundle, no pack, no manifest


def test_repair_prune_rotate_and_verify_never_write_there(mission: tuple[Mission, Path, Keyring]) -> None:
    m, ch, other = mission
    before = tree_bytes(ch)
    assert m.cli("backup").code == 3
    r = m.cli("repair", "--json")
    assert r.code == 1, (r.code, r.out, r.err)
    assert foreign_line(other) in r.err
    doc = json.loads(r.out)
    assert doc["stores"]["ch"]["copied"] == 0
    assert doc["stores"]["lu"]["still_missing"] == [] and doc["stores"]["ee"]["still_missing"] == []
    assert tree_bytes(ch) == before
    r = m.cli("repair", "--store", "ch")
    assert r.code == 1 and foreign_line(other) in r.out
    assert tree_bytes(ch) == before
    r = m.cli("keys", "rotate", "--json")
    assert r.code == 3, (r.code, r.out, r.err)
    assert json.loads(r.out)["stores"] == {"lu": "ok", "ee": "ok", "ch": "failed: " + foreign_line(other)}
    assert tree_bytes(ch) == before
    r = m.cli("prune")
    assert r.code == 3, (r.code, r.out, r.err)
    assert "store ch" in r.err + r.out
    assert tree_bytes(ch) == before
    r = m.cli("verify", "--json")
    assert r.code == 1
    assert foreign_line(other) in r.err + r.out
    assert tree_bytes(ch) == before
