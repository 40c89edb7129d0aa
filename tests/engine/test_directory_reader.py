"""The directory reader: a consistent view of each file, and nothing read outside the tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keys import Keyring
from replication.backup import BackupRound
from replication.readers.base import ChangedWhileReadingError
from replication.readers.directory import DirectoryReader
from replication.spec import RegistrySpec, StoreSpec
from replication.stores import Store
from replication.stores.memory import MemoryBackend


def test_a_file_that_changes_while_it_is_read_is_caught(tmp_path: Path) -> None:
    (tmp_path / "ledger.csv").write_bytes(b"a" * 100_000)
    reader = DirectoryReader(tmp_path)
    item = next(i for i in reader.scan() if i.path == "ledger.csv")
    with (
        pytest.raises(ChangedWhileReadingError, match=r"ledger\.csv: changed while being read"),
        reader.open(item) as (stream, _),
    ):
        stream.read(10_000)
        with (tmp_path / "ledger.csv").open("ab") as f:  # the application appends meanwhile
            f.write(b"b" * 10)
        stream.read()


def test_a_file_replaced_by_a_symlink_after_the_scan_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret outside the registry")
    root = tmp_path / "registry"
    root.mkdir()
    (root / "a.txt").write_text("inside")
    reader = DirectoryReader(root)
    item = next(i for i in reader.scan() if i.path == "a.txt")
    (root / "a.txt").unlink()
    os.symlink(tmp_path / "outside.txt", root / "a.txt")
    with pytest.raises(Exception) as e, reader.open(item):
        pass
    assert "a.txt" in str(e.value)


async def test_a_file_that_never_holds_still_is_left_out_with_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    (root / "steady.txt").write_text("steady\n")
    busy = root / "busy.log"
    busy.write_bytes(b"x" * 4096)

    class Restless(DirectoryReader):
        """Every read of busy.log overlaps a write to it, as with a log written non-stop."""

        def open(self, item):  # type: ignore[no-untyped-def,override]
            cm = super().open(item)
            if item.path != "busy.log":
                return cm

            class Wrapped:
                def __enter__(self):  # type: ignore[no-untyped-def]
                    got = cm.__enter__()
                    with busy.open("ab") as f:
                        f.write(b"y")
                    return got

                def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                    return cm.__exit__(*exc)

            return Wrapped()

    ring = Keyring.create(["logs"])
    store = Store(StoreSpec("mem", "filesystem"), MemoryBackend("mem"))
    engine = BackupRound(
        ring, [store], lambda s: True, 1, tmp_path / "cache", tmp_path / "scratch",
        readers=lambda spec, scratch: Restless(root),
    )  # fmt: skip
    try:
        [result] = await engine.run([RegistrySpec("logs", "directory", root)])
    finally:
        await store.close()
    assert result.error is None and result.quorum_met
    assert result.files == 1  # steady.txt only
    assert result.warnings == ["busy.log: changed while being read 3 times; not in this snapshot"]
