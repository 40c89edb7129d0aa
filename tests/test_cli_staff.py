"""`embassy staff ...` as an operator runs it: the JSON documents scripts rely on, exit codes, effects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from web.conftest import SiteEnv, make_site_env

from embassy.audit.log import all_entries
from embassy.mission_db import connect
from embassy.staff import accounts
from embassy.staff.passwords import verify_password


@pytest.fixture
def env(tmp_path: Path) -> SiteEnv:
    return make_site_env(tmp_path, languages=("en",), seed=False)  # no demo accounts


def staff(env: SiteEnv, *args: str) -> tuple[int, dict, str]:
    r = run_cli("staff", *args, "--json", cwd=env.root)
    return r.code, (json.loads(r.out) if r.out else {}), r.err


def test_add_list_disable_reset_and_token(env: SiteEnv) -> None:
    code, added, _ = staff(env, "add", "dana", "--role", "editor", "--role", "publisher")
    assert code == 0
    assert {k: added[k] for k in ("name", "roles")} == {"name": "dana", "roles": ["editor", "publisher"]}
    assert len(added["one_time_password"]) == 29
    conn = connect(env.config.data_dir / "mission.db")
    assert verify_password(accounts.get(conn, "dana").password_hash, added["one_time_password"])
    conn.close()
    code, listed, _ = staff(env, "list")
    assert code == 0
    (only,) = listed["accounts"]
    assert {k: only[k] for k in ("name", "roles", "factors", "disabled", "last_sign_in")} == {
        "name": "dana", "roles": ["editor", "publisher"], "factors": [], "disabled": False, "last_sign_in": None,
    }  # fmt: skip
    code, token, _ = staff(env, "token", "dana", "--scope", "editor", "--days", "3")
    assert code == 0 and token["name"] == "dana" and token["scopes"] == ["editor"]
    assert token["token"].startswith("emb1_") and token["expires"].endswith("Z")
    code, reset, _ = staff(env, "reset", "dana")
    assert code == 0 and reset["one_time_password"] != added["one_time_password"] and reset["factors"] == []
    code, disabled, _ = staff(env, "disable", "dana")
    assert code == 0 and disabled["disabled"] is True
    code, listed, _ = staff(env, "tokens", "dana")
    assert [t["active"] for t in listed["tokens"]] == [False]
    conn = connect(env.config.data_dir / "mission.db")
    log = list(all_entries(conn))
    conn.close()
    assert [(e.actor, e.action) for e in log] == [("operator", "account.created"), ("operator", "token.created"),
                                                  ("operator", "account.reset"), ("operator", "account.disabled")]  # fmt: skip
    secrets = (added["one_time_password"], reset["one_time_password"], token["token"])
    assert not any(s in json.dumps(e.detail) for e in log for s in secrets)


def test_mistakes_are_one_line_and_exit_2(env: SiteEnv) -> None:
    assert staff(env, "add", "dana", "--role", "editor")[0] == 0
    for args, message in (
        (("add", "dana", "--role", "editor"), "a staff account named 'dana' already exists"),
        (("add", "Dana!", "--role", "editor"), "'Dana!' is not a staff name"),
        (("disable", "nobody"), "no staff account is named 'nobody'"),
        (("token", "dana", "--scope", "admin"), "does not hold the role 'admin'"),
        (("token", "dana", "--days", "0"), "a token lives between 1 and 366 days"),
    ):
        code, _, err = staff(env, *args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)
    r = run_cli("staff", "add", "x1", "--role", "king", cwd=env.root)
    assert r.code == 2 and "invalid choice: 'king'" in r.err
    human = run_cli("staff", "list", cwd=env.root)
    assert human.code == 0 and "dana" in human.out and "must set a password" in human.out
