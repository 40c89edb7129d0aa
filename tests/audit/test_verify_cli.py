"""`embassy audit verify`: the local chain, and the chain held to the newest snapshot abroad."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PASSPHRASE, run_cli
from web.conftest import SiteEnv, make_site_env

from embassy.audit.chain import GENESIS, entry_hash
from embassy.audit.log import all_entries

ENV = {"EMBASSY_PASSPHRASE": PASSPHRASE}


def verify(env: SiteEnv, *args: str) -> tuple[int, dict]:
    r = run_cli("audit", "verify", "--json", *args, cwd=env.root, env=ENV)
    assert r.out, r.err
    return r.code, json.loads(r.out)


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> SiteEnv:
    """A mission whose log has 6 entries, all in a snapshot of mission-site in the store abroad."""
    env = make_site_env(tmp_path_factory.mktemp("audit"), languages=("en",), seed=False)  # an empty log
    assert verify(env) == (0, {"ok": True, "entries": 0, "head": GENESIS, "first_bad_entry": None,
                               "snapshot_checked": True, "snapshot": None, "snapshot_error": None})  # fmt: skip
    for name in ("dana", "marat", "aliya"):
        assert run_cli("staff", "add", name, "--role", "editor", cwd=env.root).code == 0
        assert run_cli("staff", "token", name, cwd=env.root).code == 0
    r = run_cli("backup", "--registry", "mission-site", cwd=env.root, env=ENV)
    assert r.code == 0, r.err
    return env


@pytest.fixture
def env(backed_up: SiteEnv) -> Iterator[SiteEnv]:
    """The backed-up mission, its database put back as it was after each test."""
    db = backed_up.config.data_dir / "mission.db"
    saved = sqlite3.connect(":memory:")
    with sqlite3.connect(db) as live:
        live.backup(saved)
    try:
        yield backed_up
    finally:
        with sqlite3.connect(db) as live:
            saved.backup(live)
        saved.close()


def tamper(env: SiteEnv, sql: str) -> None:
    with sqlite3.connect(env.config.data_dir / "mission.db") as conn:
        conn.execute(sql)


def test_an_intact_log_matches_the_snapshot(env: SiteEnv) -> None:
    code, doc = verify(env)
    assert code == 0 and doc["ok"] and doc["entries"] == 6
    assert doc["snapshot"]["registry"] == "mission-site" and doc["snapshot"]["entries"] == 6
    assert doc["snapshot"]["head"] == doc["head"]
    # entries made since the snapshot are fine: the snapshot holds what was there then
    assert run_cli("staff", "disable", "marat", cwd=env.root).code == 0
    code, doc = verify(env)
    assert (code, doc["entries"], doc["snapshot"]["entries"]) == (0, 7, 6)
    human = run_cli("audit", "verify", cwd=env.root, env=ENV)
    assert human.code == 0 and "audit log ok" in human.out and "6 entries" in human.out


def test_an_edited_entry_is_named(env: SiteEnv) -> None:
    tamper(env, """UPDATE audit_log SET actor = 'someone' WHERE seq = 2""")
    code, doc = verify(env)
    assert code == 1 and not doc["ok"]
    assert doc["first_bad_entry"] == {"seq": 2, "reason": "its content does not match its hash (edited)"}
    local = run_cli("audit", "verify", "--local", cwd=env.root)  # no passphrase needed
    assert local.code == 1 and "PROBLEM: entry 2: its content does not match its hash (edited)" in local.out


def test_a_deleted_entry_is_named(env: SiteEnv) -> None:
    tamper(env, "DELETE FROM audit_log WHERE seq = 4")
    code, doc = verify(env)
    assert code == 1 and doc["first_bad_entry"]["seq"] == 5
    assert "entry 4 is missing" in doc["first_bad_entry"]["reason"]


def test_a_cut_tail_is_found_only_by_the_snapshot(env: SiteEnv) -> None:
    tamper(env, "DELETE FROM audit_log WHERE seq >= 5")
    assert verify(env, "--local")[0] == 0  # the chain alone still holds
    code, doc = verify(env)
    assert code == 1 and doc["entries"] == 4
    assert doc["first_bad_entry"] == {
        "seq": 5, "reason": f"missing tail: snapshot {doc['snapshot']['id'][:12]} abroad holds 6 entries, the local log 4",
    }  # fmt: skip


def test_a_rewritten_chain_is_found_by_the_snapshot(env: SiteEnv) -> None:
    """Delete entry 3 and recompute every hash after it, as someone with the database in hand could."""
    path = env.config.data_dir / "mission.db"
    with sqlite3.connect(path) as conn:
        kept = [e for e in all_entries(conn) if e.seq != 3]
        conn.execute("DELETE FROM audit_log")
        prev = GENESIS
        for seq, e in enumerate(kept, start=1):
            digest = entry_hash(seq, e.time, e.actor, e.action, e.detail, prev)
            conn.execute(
                "INSERT INTO audit_log (seq, time, actor, action, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, e.time, e.actor, e.action, json.dumps(e.detail, sort_keys=True), prev, digest),
            )
            prev = digest
    assert verify(env, "--local")[0] == 0
    code, doc = verify(env)
    assert code == 1 and doc["first_bad_entry"]["seq"] == 3
    assert "differs from the same entry in snapshot" in doc["first_bad_entry"]["reason"]


def test_with_nothing_abroad_yet_only_the_local_chain_is_checked(env: SiteEnv, tmp_path: Path) -> None:
    text = env.config_path.read_text().replace('path = "var/stores/lu"', f'path = "{tmp_path / "empty"}"')
    other = env.root / "elsewhere.toml"
    other.write_text(text)
    (tmp_path / "empty").mkdir()
    r = run_cli("--config", str(other), "audit", "verify", "--json", cwd=env.root, env=ENV)
    doc = json.loads(r.out)
    assert r.code == 0 and doc["snapshot"] is None and doc["snapshot_checked"]  # nothing abroad yet: nothing to hold to
