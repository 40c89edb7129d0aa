"""`embassy inbox init | recover | status` and `keys status` about the inbox, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import make_test_keyring, run_cli

from embassy.contact import custody
from embassy.mission_db import MISSION_DB, connect
from embassy.staff import accounts
from embassy.staff.passwords import hash_password
from keys.inbox_keys import new_officer_key
from keys.kdf import KdfParams

ENV = {"EMBASSY_PASSPHRASE": "test passphrase, long enough"}


def mission(root: Path) -> Path:
    (root / "embassy.toml").write_text('[mission]\nname = "Inbox Mission"\n[[stores]]\nname = "lu"\n'
                                       'kind = "filesystem"\npath = "var/stores/lu"\njurisdiction = "LU"\n')  # fmt: skip
    make_test_keyring(root / "var" / "keyring", [])
    conn = connect(root / "var" / MISSION_DB)
    accounts.create(conn, "olga", ["consular"], hash_password("x" * 16), actor="test")
    accounts.create(conn, "erik", ["editor"], hash_password("x" * 16), actor="test")
    conn.close()
    return root


def test_init_splits_the_recovery_key_and_custodians_give_an_officer_the_inbox(tmp_path: Path) -> None:
    root = mission(tmp_path)
    assert json.loads(run_cli("keys", "status", "--json", cwd=root, env=ENV).out)["inbox_key_id"] is None
    made = run_cli("inbox", "init", "--threshold", "2", "--shares", "3", "--out", "shares", "--json", cwd=root, env=ENV)
    assert made.code == 0, made.err
    doc = json.loads(made.out)
    assert doc["granted"] == [] and len(doc["files"]) == 3  # olga has not signed in: no officer key yet
    share = root / doc["files"][0]
    assert share.stat().st_mode & 0o777 == 0o600 and "INBOX RECOVERY KEY SHARE" in share.read_text()
    keys = json.loads(run_cli("keys", "status", "--json", cwd=root, env=ENV).out)
    assert keys["inbox_key_id"] == doc["inbox_key_id"]
    assert b"inbox" not in (root / "var" / "keyring").read_bytes()  # never in the keyring
    again = run_cli("inbox", "init", "--threshold", "2", "--shares", "3", "--out", "more", cwd=root, env=ENV)
    assert again.code == 2 and "has a key already" in again.err

    shares = [f for arg in doc["files"][:2] for f in ("--share", arg)]
    early = run_cli("inbox", "recover", *shares, "--grant", "olga", cwd=root, env=ENV)
    assert early.code == 2 and "no officer key to grant to yet" in early.err
    conn = connect(root / "var" / MISSION_DB)  # her first sign-in made one
    custody.set_officer_key(conn, "olga", new_officer_key("her password", KdfParams.low_cost_for_tests())[0],
                            actor="olga")  # fmt: skip
    conn.close()
    assert run_cli("inbox", "recover", *shares, "--grant", "erik", cwd=root, env=ENV).code == 2  # not an officer
    one = run_cli("inbox", "recover", "--share", doc["files"][0], "--grant", "olga", cwd=root, env=ENV)
    assert one.code == 4 and "needs 2" in one.err
    done = run_cli("inbox", "recover", *shares, "--grant", "olga", cwd=root, env=ENV)
    assert done.code == 0 and f"gave olga the inbox key {doc['inbox_key_id']}" in done.out, done.err
    status = json.loads(run_cli("inbox", "status", "--json", cwd=root, env=ENV).out)
    assert status["officers"] == [{"name": "olga", "roles": ["consular"], "has_key": True, "has_access": True}]
    assert status["recovery"] == {"key_id": doc["recovery_key_id"], "threshold": 2, "shares": 3}
    text = run_cli("inbox", "status", cwd=root, env=ENV).out
    assert "officer        olga                 has access" in text


def test_a_master_key_share_is_refused_for_the_inbox(tmp_path: Path) -> None:
    root = mission(tmp_path)
    assert run_cli("keys", "split", "--threshold", "2", "--shares", "2", "--out", "master", cwd=root, env=ENV).code == 0
    assert run_cli("inbox", "init", "--threshold", "2", "--shares", "2", "--out", "inbox", cwd=root, env=ENV).code == 0
    wrong = run_cli("inbox", "recover", "--share", "master/share-1-of-2.txt", "--share", "master/share-2-of-2.txt",
                    "--grant", "olga", cwd=root, env=ENV)  # fmt: skip
    assert wrong.code == 4 and "share of the master key, not of the inbox recovery key" in wrong.err
