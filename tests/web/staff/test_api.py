"""The staff API over real HTTP: bearer tokens (scoped, expiring, revocable), JSON errors, the audit feed."""

from __future__ import annotations

import json

from conftest import run_cli

from embassy.staff import accounts, tokens
from web.conftest import ServerThread, SiteEnv
from web.staff.staffkit import PASSWORD, Client, cached_hash, close, conns


def call(server: ServerThread, path: str, token: str | None = None) -> tuple[int, dict[str, object], Client]:
    client = Client(server.url)
    r = client.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})
    assert (r.header("Content-Type") or "").startswith("application/json")
    return r.status, json.loads(r.body), client


def test_tokens_are_scoped_expire_and_can_be_revoked(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    c = conns(staff_env.config.data_dir)
    accounts.create(c.mission, "dana.api", ["admin", "editor"], cached_hash(PASSWORD), actor="test")
    close(c)
    made = run_cli("staff", "token", "dana.api", "--scope", "editor", "--days", "7", "--json", cwd=staff_env.root)
    assert made.code == 0, made.err
    doc = json.loads(made.out)
    assert set(doc) >= {"name", "token", "scopes", "expires"} and doc["scopes"] == ["editor"]
    editor_only = doc["token"]
    assert call(staff_server, "/api/v1/me", editor_only)[:2] == (200, {"name": "dana.api", "roles": ["editor"],
                                                                         "token": doc["id"]})  # fmt: skip
    status, body, _ = call(staff_server, "/api/v1/audit", editor_only)
    assert (status, body) == (403, {"error": "this token's scopes do not allow this"})
    # a scope the account does not hold is refused when the token is made
    bad = run_cli("staff", "token", "dana.api", "--scope", "consular", "--json", cwd=staff_env.root)
    assert bad.code == 2 and "does not hold the role 'consular'" in bad.err
    # taking the role away takes it from the token
    full = json.loads(run_cli("staff", "token", "dana.api", "--json", cwd=staff_env.root).out)["token"]
    assert call(staff_server, "/api/v1/audit", full)[0] == 200
    assert run_cli("staff", "roles", "dana.api", "--role", "editor", cwd=staff_env.root).code == 0
    assert call(staff_server, "/api/v1/audit", full)[0] == 403
    # revoked, expired, malformed, unknown, wrong secret: 401 with the same words
    revoked = run_cli("staff", "revoke", doc["id"], cwd=staff_env.root)
    assert revoked.code == 0 and f"revoked API token {doc['id']}" in revoked.out
    c = conns(staff_env.config.data_dir)
    expiring, info = tokens.create(c.mission, "dana.api", None, 1, actor="test")
    c.mission.execute("UPDATE staff_token SET expires = '2020-01-01T00:00:00Z' WHERE id = ?", (info.id,))
    close(c)
    wrong_secret = editor_only[:-4] + ("AAAA" if not editor_only.endswith("AAAA") else "BBBB")
    for presented in (editor_only, expiring, "emb1_nonsense", f"emb1_{'0' * 16}_{'A' * 43}", wrong_secret):
        status, body, _ = call(staff_server, "/api/v1/me", presented)
        assert (status, body) == (401, {"error": "no or bad token: send Authorization: Bearer <token>"})
    status, body, client = call(staff_server, "/api/v1/me")
    assert status == 401 and client.set_cookies == []


def test_the_audit_feed_pages_with_after(staff_server: ServerThread, staff_env: SiteEnv) -> None:
    c = conns(staff_env.config.data_dir)
    accounts.create(c.mission, "audit.reader", ["admin"], cached_hash(PASSWORD), actor="test")
    token, _ = tokens.create(c.mission, "audit.reader", None, 1, actor="test")
    close(c)
    status, body, _ = call(staff_server, "/api/v1/audit?after=0", token)
    assert status == 200 and body["more"] is False
    first = body["entries"]
    assert [e["seq"] for e in first] == list(range(1, len(first) + 1))
    assert set(first[0]) == {"seq", "time", "actor", "action", "detail", "hash"}
    last = first[-1]["seq"]
    status, body, _ = call(staff_server, f"/api/v1/audit?after={last}", token)
    # what is new since: the use of the token for the call before (every use is recorded)
    assert status == 200 and [e["action"] for e in body["entries"]] == ["token.used"]
    assert body["entries"][0]["detail"]["path"] == "/api/v1/audit"
    for bad in ("abc", "-1", "%EF%BC%91", "%C2%B2", "9" * 30):
        status, body, _ = call(staff_server, f"/api/v1/audit?after={bad}", token)
        assert status == 400 and "after" in str(body["error"])


def test_unknown_endpoints_and_methods_answer_json(staff_server: ServerThread) -> None:
    assert call(staff_server, "/api/v1/nothing")[:2] == (404, {"error": "no such endpoint"})
    client = Client(staff_server.url)
    r = client.request("POST", "/api/v1/me")
    assert r.status == 405 and json.loads(r.body) == {"error": "method not allowed here"}
