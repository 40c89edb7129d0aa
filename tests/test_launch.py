"""The entry point's head start on the key derivation: used only when it is exactly the right one."""

from __future__ import annotations

from pathlib import Path

from conftest import PASSPHRASE, make_test_keyring

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
