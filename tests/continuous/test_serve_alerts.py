"""Alerts of a real `embassy serve`: a store abroad that never answers (so the quorum of two is never
met and the RPO grows) and a failed drill in the history raise four alerts, each an ERROR log line,
a metric, a banner for admins in the staff area (not for an editor), an entry of
``GET /api/v1/replication`` (admin only) and one e-mail to the duty address, sent by the
supervisor to a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import PASSPHRASE, make_test_keyring, run_cli
from web.staff.staffkit import Client, make_account, signed_in
from web.test_site_serve import free_port

from continuous.servekit import Server, serving, wait_for
from embassy import drill_history
from embassy.config import load_config
from embassy.mission_db import prepare_all
from replication.drill import DrillResult

FAKE_SECRET = "alert-test-secret-key-0123456789"
KINDS = {"quorum", "store_down", "rpo", "drill"}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def server(tmp_path: Path, smtp: tuple[int, Inbox]) -> Iterator[Server]:
    root = tmp_path
    (root / "files").mkdir()
    (root / "files" / "people.csv").write_text("id,name\n1,Aigerim\n")
    (root / "embassy.toml").write_text(
        '[mission]\nname = "Alert Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
        '[server]\nlog_format = "json"\n'
        '[[registries]]\nname = "files"\nkind = "directory"\npath = "files"\n'
        '[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "stores/lu"\njurisdiction = "LU"\n'
        f'[[stores]]\nname = "ch"\nkind = "s3"\nendpoint = "http://127.0.0.1:{closed_port()}"\nbucket = "embassy"\n'
        'jurisdiction = "CH"\naccess_key_env = "CH_ACCESS"\nsecret_key_env = "CH_SECRET"\n'
        '[replication]\ninterval = "5s"\nquorum = 2\nrpo_alert = "5s"\nstore_down_alert = "5s"\n'
        '[contact]\nduty_email = "duty@mission.example"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp[0]}\nstarttls = false\nfrom = "mission@mission.example"\n'
    )
    env = {"CH_ACCESS": "alert-test-access", "CH_SECRET": FAKE_SECRET, "EMBASSY_PASSPHRASE": PASSPHRASE}
    config = load_config(root / "embassy.toml", env)
    make_test_keyring(config.keyring_path, ["files"])
    prepare_all(config.data_dir)
    failed = DrillResult("lu", "files", ok=False, error="restored bytes differ", started="2026-12-01T03:00:00Z")
    drill_history.append(config.data_dir, "2026-12-01T03:00:00Z", [failed])
    make_account(config.data_dir, "ada.admin", ["admin"])
    make_account(config.data_dir, "eve.editor", ["editor"])
    with serving(root, env) as srv:
        yield srv


def api(server: Server, token: str) -> tuple[int, dict[str, Any]]:
    r = Client(server.base).get("/api/v1/replication", headers={"Authorization": f"Bearer {token}"})
    return r.status, json.loads(r.body)


def token(server: Server, name: str) -> str:
    made = run_cli("staff", "token", name, "--json", cwd=server.root, env=server.env)
    assert made.code == 0, made.err
    return str(json.loads(made.out)["token"])


def test_quorum_store_rpo_and_drill_alerts_are_logged_measured_shown_to_admins_and_mailed(
    server: Server, smtp: tuple[int, Inbox]
) -> None:
    inbox = smtp[1]
    wait_for("four alerts", lambda: {a["kind"] for a in server.document().get("alerts", [])} == KINDS, 60)
    doc = server.document()
    alerts = {a["kind"]: a for a in doc["alerts"]}
    assert alerts["quorum"]["subject"] == "files" and "quorum not met" in alerts["quorum"]["message"]
    assert alerts["store_down"]["subject"] == "ch" and "store ch: unreachable" in alerts["store_down"]["message"]
    assert alerts["rpo"]["subject"] == "files" and "above 5 s" in alerts["rpo"]["message"]
    assert "the last drill" in alerts["drill"]["message"] and "0 of 1 restores passed" in alerts["drill"]["message"]
    assert doc["ok"] is False

    # One e-mail per alert, to the duty address, naming the condition.
    wait_for("four e-mails", lambda: len(inbox.messages) >= 4, 30)
    subjects = sorted(m[2].split(b"Subject: ", 1)[1].split(b"\n", 1)[0].strip().decode() for m in inbox.messages)
    assert subjects == sorted(f"Alert Mission: replication alert ({k})" for k in KINDS)
    assert all(m[0] == "mission@mission.example" and m[1] == ["duty@mission.example"] for m in inbox.messages)

    # The metric, answered by a worker.
    metrics = Client(server.base).get("/metrics").body.decode()
    for kind, subject in (("quorum", "files"), ("store_down", "ch"), ("rpo", "files"), ("drill", "drill")):
        assert f'embassy_replication_alert{{kind="{kind}",subject="{subject}"}} 1.0' in metrics
    assert 'embassy_replication_last_drill_ok 0.0' in metrics
    assert 'embassy_replication_store_up{store="ch"} 0.0' in metrics
    assert 'embassy_replication_breaker_open{store="ch"} 1.0' in metrics  # set aside, probed with back-off
    assert 'embassy_replication_breaker_open{store="lu"} 0.0' in metrics

    # The banner: an admin sees every alert, an editor none.
    admin = Client(server.base)
    signed_in(admin, server.root / "var", "ada.admin")
    page = admin.get("/staff/").body.decode()
    assert 'id="replication-alerts"' in page
    for a in doc["alerts"]:
        assert a["message"].split(" (")[0] in page
    editor = Client(server.base)
    signed_in(editor, server.root / "var", "eve.editor")
    assert 'id="replication-alerts"' not in editor.get("/staff/").body.decode()

    # The staff API: the same figures for an admin's token, 403 for an editor's.
    status, body = api(server, token(server, "ada.admin"))
    assert status == 200 and body["replicating"] is True and body["ok"] is False, body
    assert {a["kind"] for a in body["alerts"]} == KINDS
    [files] = body["registries"]
    assert files["name"] == "files" and files["quorum_met"] is False and files["last_outcome"] == "quorum-not-met"
    assert files["rpo_seconds"] > 5
    assert {s["name"]: s["reachable"] for s in body["stores"]} == {"lu": True, "ch": False}
    assert api(server, token(server, "eve.editor"))[0] == 403

    # ERROR log lines, one per alert, valid JSON, without the store's secret or the passphrase.
    assert server.stop() == 0
    events = [json.loads(ln) for ln in server.log().splitlines() if ln.strip()]
    raised = [e["message"] for e in events if e["level"] == "ERROR" and e["message"].startswith("replication alert:")]
    assert len(raised) == 4, raised
    assert FAKE_SECRET not in server.log() and PASSPHRASE not in server.log()
