"""The entry point's head start on the key derivation: used only when it is exactly the right one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import PASSPHRASE, make_test_keyring, run_cli

from embassy.cli.launch import EarlyUnlock, _command, _start


def test_the_command_and_config_are_found_without_argparse() -> None:
    assert _command(["--config", "a.toml", "restore", "latest", "--all"]) == ("restore", "a.toml")
    assert _command(["keys", "status", "--config=b.toml", "--json"]) == ("keys status", "b.toml")
    assert _command(["keys", "recover", "--share", "x"]) == ("keys recover", None)
    assert _command([]) == ("", None)


def test_a_head_start_is_taken_only_for_the_same_keyring_and_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "keyring"
    ring = make_test_keyring(path, ["population"])
    sealed = path.read_bytes()
    early = EarlyUnlock(path.resolve(), sealed, PASSPHRASE.encode())
    assert early.take(path, sealed, b"another passphrase") is None
    assert early.take(path, sealed + b" ", PASSPHRASE.encode()) is None
    got = early.take(path, sealed, PASSPHRASE.encode())
    assert got is not None and got.master_key_id == ring.master_key_id
    wrong = EarlyUnlock(path.resolve(), sealed, b"wrong passphrase here")
    assert wrong.take(path, sealed, b"wrong passphrase here") is None  # the normal path reports it


def test_no_head_start_without_a_non_interactive_passphrase(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "embassy.toml").write_text('[mission]\nname = "M"\n')
    make_test_keyring(tmp_path / "var" / "keyring", [])
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMBASSY_PASSPHRASE", raising=False)
    monkeypatch.delenv("EMBASSY_PASSPHRASE_FILE", raising=False)
    assert _start(["backup"]) is None
    monkeypatch.setenv("EMBASSY_PASSPHRASE", PASSPHRASE)
    assert _start(["keys", "recover"]) is None  # does not open the keyring
    early = _start(["backup"])
    assert early is not None and early.keyring_path == (tmp_path / "var" / "keyring").resolve()
    assert early.take(tmp_path / "var" / "keyring", (tmp_path / "var" / "keyring").read_bytes(), PASSPHRASE.encode())


def _mission(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "embassy.toml").write_text(
        '[mission]\nname = "M"\n\n[[registries]]\nname = "population"\nkind = "directory"\n'
        f'path = "{tmp_path}"\n\n[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "{tmp_path / "store"}"\n'
        'jurisdiction = "LU"\n'
    )
    make_test_keyring(tmp_path / "var" / "keyring", ["population"])
    return {"EMBASSY_PASSPHRASE": PASSPHRASE}


def test_a_one_shot_command_ends_without_teardown_but_loses_no_output(tmp_path: Path) -> None:
    """The quick exit (no interpreter teardown) still delivers all output and the exit code."""
    env = _mission(tmp_path)
    r = run_cli("keys", "status", "--json", env=env, cwd=tmp_path)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [k["registry"] for k in doc["data_keys"]] == ["population"]
    assert r.out.rstrip().endswith("}")
    # stdout that cannot be written: an error exit, as Python's own exit gives, never a silent 0
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "embassy", "keys", "status", "--json"],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    assert proc.returncode != 0


def test_the_quick_exit_runs_atexit_handlers_and_joins_worker_threads(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    code = (
        "import atexit, sys, time\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from pathlib import Path\n"
        "import embassy.cli.main as m\n"
        f"atexit.register(lambda: Path({str(marker)!r}).write_text(Path({str(marker)!r}).read_text() + 'atexit'))\n"
        "pool = ThreadPoolExecutor(1)\n"
        f"pool.submit(lambda: (time.sleep(0.3), Path({str(marker)!r}).write_text('worker ')))\n"
        "m._exit_without_teardown(7)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7, proc.stderr
    assert marker.read_text() == "worker atexit"
