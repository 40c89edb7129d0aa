"""replication.fsutil: atomic writes and scratch space whose runs are spread apart on disk."""

from __future__ import annotations

import subprocess
from pathlib import Path

from replication.fsutil import FS_TOPDIR_FL, atomic_write, inode_flags, spread_subfolders


def test_atomic_write_replaces_the_file_with_the_mode_set(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "secret.json"
    atomic_write(target, b"one", mode=0o600)
    atomic_write(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["secret.json"]  # no temp file left


def test_spread_subfolders_sets_chattr_t_where_the_filesystem_has_it(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert not (inode_flags(scratch) or 0) & FS_TOPDIR_FL
    spread = spread_subfolders(scratch)
    assert spread == bool((inode_flags(scratch) or 0) & FS_TOPDIR_FL)  # True means it is set
    fs_type = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True).stdout
    if "ext2/ext3" in fs_type:  # how stat names ext4, as on this project's machines: it must work there
        assert spread is True
    assert spread_subfolders(scratch) is True  # already set: unchanged
    # The same flag as e2fsprogs shows it, where lsattr is installed.
    lsattr = subprocess.run(["lsattr", "-d", str(scratch)], capture_output=True, text=True)
    if lsattr.returncode == 0:
        assert "T" in lsattr.stdout.split()[0]
    (scratch / "run-1").mkdir()  # still an ordinary folder
    (scratch / "run-1" / "f").write_bytes(b"x")
    assert (scratch / "run-1" / "f").read_bytes() == b"x"


def test_spread_subfolders_never_fails(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_bytes(b"x")
    assert spread_subfolders(file) is False  # not a folder
    assert spread_subfolders(tmp_path / "missing") is False
    assert inode_flags(tmp_path / "missing") is None
