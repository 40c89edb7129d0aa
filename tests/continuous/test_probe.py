"""The change token: equal while a registry is only read, different after every kind of write."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from embassy.continuous.probe import change_token
from replication.spec import RegistrySpec


def directory(tmp_path: Path) -> RegistrySpec:
    root = tmp_path / "reg"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("id\n1\n")
    (root / "sub" / "b.bin").write_bytes(b"\0" * 100)
    return RegistrySpec("files", "directory", root)


def test_a_directory_read_is_no_change_and_every_write_is(tmp_path: Path) -> None:
    spec = directory(tmp_path)
    assert spec.path is not None
    first = change_token(spec)
    assert first is not None and change_token(spec) == first
    (spec.path / "a.csv").read_text()  # reading changes nothing
    assert change_token(spec) == first
    steps = [
        lambda: (spec.path / "sub" / "b.bin").write_bytes(b"\1" * 100),  # same size, new content
        lambda: (spec.path / "sub" / "c.txt").write_text("new"),
        lambda: os.rename(spec.path / "sub" / "c.txt", spec.path / "c.txt"),
        lambda: os.chmod(spec.path / "a.csv", 0o600),
        lambda: (spec.path / "c.txt").unlink(),
        lambda: os.symlink("a.csv", spec.path / "link"),
    ]
    seen = {first}
    for step in steps:
        step()  # type: ignore[no-untyped-call]
        token = change_token(spec)
        assert token is not None and token not in seen
        seen.add(token)


@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_a_database_read_is_no_change_and_every_commit_is(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "reg.db"
    writer = sqlite3.connect(path)
    writer.execute(f"PRAGMA journal_mode={mode}")
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    writer.commit()
    spec = RegistrySpec("db", "sqlite", path)
    seen = set()
    for i in range(5):
        before = change_token(spec)
        reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (i,)
        reader.close()
        assert change_token(spec) == before, "a reader changed the token"
        assert before not in seen
        seen.add(before)
        writer.execute("INSERT INTO t (v) VALUES (?)", ("x",))  # the same size of change every time
        writer.commit()
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert change_token(spec) not in seen
    writer.close()


def test_a_registry_that_cannot_be_checked_has_no_token(tmp_path: Path) -> None:
    assert change_token(RegistrySpec("civil", "command", None, ("pg_dump", "civil"))) is None
    assert change_token(RegistrySpec("gone", "directory", tmp_path / "missing")) is None
    (tmp_path / "file").write_text("not a folder")
    assert change_token(RegistrySpec("file", "directory", tmp_path / "file")) is None
