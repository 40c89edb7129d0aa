"""One backup of a registry at a time on a machine, per registry: `embassy backup` of a registry that
another process is backing up says so and waits; one of another registry goes ahead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PASSPHRASE, make_test_keyring

from embassy.backup_service import BackupBusyError, backup_lock
from embassy.config import load_config


def mission(root: Path) -> Path:
    for name in ("a", "b"):
        (root / name).mkdir()
        (root / name / "data.txt").write_text(f"registry {name}\n")
    path = root / "embassy.toml"
    path.write_text(
        '[mission]\nname = "Lock Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
        '[[registries]]\nname = "a"\nkind = "directory"\npath = "a"\n'
        '[[registries]]\nname = "b"\nkind = "directory"\npath = "b"\n'
        '[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "stores/lu"\njurisdiction = "LU"\n'
    )
    make_test_keyring(load_config(path, {}).keyring_path, ["a", "b"])
    return path


def backup(root: Path, registry: str) -> subprocess.Popen[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}, "EMBASSY_PASSPHRASE": PASSPHRASE}
    return subprocess.Popen(
        [sys.executable, "-m", "embassy", "backup", "--registry", registry, "--json"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_backup_of_a_busy_registry_says_it_waits_and_another_registry_goes_ahead(tmp_path: Path) -> None:
    config = load_config(mission(tmp_path), {})
    with backup_lock(config, wait=False, registries=["a"]):  # as the server's round of `a` holds it
        busy = pytest.raises(BackupBusyError, match=r"another backup of a is running on this machine")
        with busy, backup_lock(config, wait=False, registries=["a", "b"]):
            pass
        other = backup(tmp_path, "b")
        out, err = other.communicate(timeout=120)
        assert other.returncode == 0, err
        assert json.loads(out)["snapshots"][0]["quorum_met"] is True
        waiting = backup(tmp_path, "a")
        assert waiting.stderr is not None
        line = waiting.stderr.readline()  # said before it waits: nothing else comes first
        assert "another backup of a is running on this machine" in line and "waiting for it to finish" in line
        assert waiting.poll() is None
    out, err = waiting.communicate(timeout=120)  # the lock is free: it goes on
    assert waiting.returncode == 0, err
    assert json.loads(out)["snapshots"][0]["registry"] == "a"
