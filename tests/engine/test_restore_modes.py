"""Restoring modes: setuid and setgid bits come back only with the original owner, which this format
does not record, so they are cleared and counted; every other permission bit is restored."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from conftest import PASSPHRASE, make_test_keyring, run_cli


def test_setuid_and_setgid_bits_are_cleared_and_counted(tmp_path: Path) -> None:
    reg = tmp_path / "registries" / "population"
    (reg / "bin").mkdir(parents=True)
    tool = reg / "bin" / "tool"
    tool.write_bytes(b"#!/bin/sh\necho hi\n")
    group_tool = reg / "bin" / "group-tool"
    group_tool.write_bytes(b"#!/bin/sh\necho hi\n")
    plain = reg / "plain.txt"
    plain.write_text("plain\n")
    shared = reg / "shared"
    shared.mkdir()
    if os.geteuid() == 0:  # the case that matters: a registry file of uid 1000 restored by root
        for p in (tool, group_tool, plain, shared):
            os.chown(p, 1000, 1000)
    tool.chmod(0o4755)
    group_tool.chmod(0o2751)
    plain.chmod(0o640)
    shared.chmod(0o3775)  # setgid and sticky on a folder
    (tmp_path / "embassy.toml").write_text(
        '[mission]\nname = "Test Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
        '[[registries]]\nname = "population"\nkind = "directory"\npath = "registries/population"\n'
        f'[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "{tmp_path / "lu"}"\njurisdiction = "LU"\n'
    )
    make_test_keyring(tmp_path / "var" / "keyring", ["population"])

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return run_cli("--config", str(tmp_path / "embassy.toml"), *args, env={"EMBASSY_PASSPHRASE": PASSPHRASE})

    assert cli("backup").code == 0
    out = tmp_path / "out"
    r = cli("restore", "latest", "--registry", "population", "--target", str(out), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["setid_cleared"] == 3

    def mode(rel: str) -> int:
        return stat.S_IMODE((out / rel).lstat().st_mode)

    assert mode("bin/tool") == 0o755
    assert mode("bin/group-tool") == 0o751
    assert mode("plain.txt") == 0o640
    assert mode("shared") == 0o1775  # the sticky bit stays: it grants nothing
    assert (out / "bin" / "tool").stat().st_uid == os.geteuid()

    r = cli("restore", "latest", "--registry", "population", "--target", str(tmp_path / "out2"))
    assert r.code == 0, r.err
    assert "population: cleared the setuid/setgid bits of 3 entries (their owners are not restored)" in r.err, r.err
