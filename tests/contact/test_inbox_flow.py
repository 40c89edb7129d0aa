"""The inbox end to end below the web: custody, sealing, cases, retention, duty e-mails (real SMTP)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from embassy.audit.log import entries
from embassy.config import load_config
from embassy.contact import cases, custody, reading
from embassy.contact.codes import new_code
from embassy.contact.errors import FormTokenError, InboxLockedError, WrongStateError
from embassy.contact.model import check_submission
from embassy.contact.notify import outbox_problems
from embassy.contact.officer_session import OfficerKeys
from embassy.contact.service import ContactService
from embassy.contact.upkeep import apply_retention, send_due
from embassy.mission_db import MISSION_DB, connect
from embassy.staff import accounts
from embassy.staff.passwords import hash_password
from keys.case_keys import CodeKdf
from keys.custody import parse_share
from keys.inbox_keys import RECOVERY_SHARES, InboxKeyPair, new_officer_key, new_recovery_key, recovery_key_from_shares
from keys.kdf import KdfParams

LOW = KdfParams.low_cost_for_tests()
FAST = CodeKdf(1, 8192)


class Mission:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.conn = connect(root / MISSION_DB)
        self.officer_private: dict[str, bytes] = {}

    def officer(self, name: str, roles: list[str] | None = None) -> None:
        accounts.create(self.conn, name, roles or ["consular"], hash_password("x" * 16), actor="test")
        key, private = new_officer_key("password of " + name, LOW)
        custody.set_officer_key(self.conn, name, key, actor="test")
        self.officer_private[name] = private

    def keys_of(self, name: str) -> OfficerKeys:
        private = self.officer_private[name]
        return OfficerKeys(private, tuple(custody.open_grants(self.conn, name, private)))


@pytest.fixture
def mission(tmp_path: Path) -> Mission:
    return Mission(tmp_path)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def with_service(root: Path, fn, *, notify: bool = False):  # type: ignore[no-untyped-def]
    service = ContactService(root, FAST, notify=notify)
    await service.open()
    try:
        return await fn(service)
    finally:
        await service.close()


def test_officers_read_what_the_public_sends_and_the_code_holder_reads_the_reply(mission: Mission) -> None:
    mission.officer("olga")
    mission.officer("ivan")
    split = new_recovery_key(2, 3, "Test")
    assert custody.init(mission.conn, InboxKeyPair.generate(), split, 2, actor="test") == ["ivan", "olga"]
    sub = check_submission("consular", {"type": "passport", "name": "Aliya", "email": "aliya@mail.example",
                                        "message": "I lost my passport in Lisbon"})  # fmt: skip

    async def flow(s: ContactService) -> tuple[str, object]:
        code = await s.submit(sub, [], "en", b"n" * 16, review=False)
        with pytest.raises(FormTokenError, match="spent"):
            await s.submit(sub, [], "en", b"n" * 16, review=False)  # the same form again: no second case
        found = await s.public_view(code)
        assert found is not None and found.replies == () and found.case.status == "new"
        assert await s.public_view(new_code()) is None  # a well-formed code of no case: nothing at all
        return code, found.case.id

    code, case_id = run(with_service(mission.root, flow))
    assert mission.conn.execute("SELECT count(*) FROM contact_case").fetchone()[0] == 1
    case, got = reading.open_case(mission.conn, str(case_id), mission.keys_of("olga"))
    assert got[0].submission is not None and got[0].submission.email == "aliya@mail.example"
    assert got[0].text == "I lost my passport in Lisbon"
    reading.reply(mission.conn, case.id, "Come on Tuesday with a photo", actor="ivan")

    async def after(s: ContactService) -> None:
        view = await s.public_view(code.lower())
        assert view is not None and [r.text for r in view.replies] == ["Come on Tuesday with a photo"]
        assert view.case.status == "waiting"
        await s.follow_up(code, "I will come", [], b"m" * 16)
        again = await s.public_view(code)
        assert again is not None and again.case.status == "in_progress" and len(again.sent) == 2

    run(with_service(mission.root, after))
    _, later = reading.open_case(mission.conn, case.id, mission.keys_of("ivan"))
    assert [(e.kind, e.text) for e in later] == [("inquiry", "I lost my passport in Lisbon"),
                                                 ("reply", "Come on Tuesday with a photo"), ("followup", "I will come")]
    actions = [e.action for e in entries(mission.conn)]
    assert "inbox.key_created" in actions and "case.replied" in actions


def test_a_reset_officer_loses_access_until_granted_again_and_custodians_recover(mission: Mission) -> None:
    mission.officer("olga")
    split = new_recovery_key(2, 3, "Test")
    pair = InboxKeyPair.generate()
    custody.init(mission.conn, pair, split, 2, actor="test")
    mission.officer("newcomer")  # joined after the key was made: no access yet
    assert mission.keys_of("newcomer").inbox == ()
    custody.grant(mission.conn, list(mission.keys_of("olga").inbox), "newcomer", actor="olga")
    assert mission.keys_of("newcomer").pair(pair.id) == pair
    with pytest.raises(WrongStateError):
        accounts.create(mission.conn, "editor1", ["editor"], hash_password("x" * 16), actor="t")
        custody.grant(mission.conn, [pair], "editor1", actor="olga")  # not an officer
    accounts.reset(mission.conn, "olga", hash_password("y" * 16), actor="admin")  # the trigger drops her keys
    assert custody.officer_key(mission.conn, "olga") is None
    assert mission.conn.execute("SELECT count(*) FROM inbox_grant WHERE account = 'olga'").fetchone()[0] == 0
    key, private = new_officer_key("her new password", LOW)  # her next sign-in makes a new officer key
    custody.set_officer_key(mission.conn, "olga", key, actor="olga")
    mission.officer_private["olga"] = private
    assert mission.keys_of("olga").inbox == ()
    shares = [parse_share(split.shares[i].text, str(i), RECOVERY_SHARES) for i in (0, 2)]
    recovered = recovery_key_from_shares(shares, split.public)
    assert custody.recover(mission.conn, recovered, "olga", actor="custodians") == [pair.id]
    assert mission.keys_of("olga").pair(pair.id) == pair


def test_an_officer_without_the_key_sees_no_content(mission: Mission) -> None:
    mission.officer("olga")
    custody.init(mission.conn, InboxKeyPair.generate(), new_recovery_key(2, 2, "T"), 2, actor="test")
    sub = check_submission("general", {"email": "a@b.example", "message": "hello"})
    run(with_service(mission.root, lambda s: s.submit(sub, [], "en", b"z" * 16, review=True)))
    case = cases.queue(mission.conn, cases.QueueFilter())[0]
    assert case.review is True
    with pytest.raises(InboxLockedError):
        reading.open_case(mission.conn, case.id, OfficerKeys(b"\0" * 32, ()))


def test_the_queue_serves_emergencies_first_then_the_oldest(mission: Mission) -> None:
    custody.init(mission.conn, InboxKeyPair.generate(), new_recovery_key(2, 2, "T"), 2, actor="test")
    order = [("general", {}), ("consular", {"type": "visa"}), ("emergency", {}), ("general", {}), ("emergency", {})]

    async def submit(s: ContactService) -> None:
        for i, (channel, extra) in enumerate(order):
            sub = check_submission(channel, {**extra, "email": "a@b.example", "message": f"m{i}"})
            await s.submit(sub, [], "ru" if i % 2 else "en", bytes([i]) * 16, review=False)

    run(with_service(mission.root, submit))
    queue = cases.queue(mission.conn, cases.QueueFilter())
    assert [c.channel for c in queue] == ["emergency", "emergency", "consular", "general", "general"]
    assert [c.received for c in queue[:2]] == sorted(c.received for c in queue[:2])
    assert {c.lang for c in cases.queue(mission.conn, cases.QueueFilter(lang="ru"))} == {"ru"}
    assert len(cases.queue(mission.conn, cases.QueueFilter(channel="emergency", type="emergency"))) == 2


def test_retention_deletes_closed_cases_after_their_days_and_audits_each(mission: Mission, tmp_path: Path) -> None:
    custody.init(mission.conn, InboxKeyPair.generate(), new_recovery_key(2, 2, "T"), 2, actor="test")
    sub = check_submission("general", {"email": "a@b.example", "message": "old matter"})
    for i in range(3):
        run(with_service(mission.root, lambda s, i=i: s.submit(sub, [], "en", bytes([i]) * 16, review=False)))
    old, recent, still_open = (c.id for c in cases.queue(mission.conn, cases.QueueFilter()))
    for case_id in (old, recent):
        cases.set_status(mission.conn, case_id, "closed", actor="olga")
    mission.conn.execute("UPDATE contact_case SET closed = '2020-01-01T00:00:00Z' WHERE id = ?", (old,))
    config = replace(load_config(write_config(tmp_path, "")), mission=replace(load_config(write_config(tmp_path, "")).mission,
                                                                               data_dir=mission.root))  # fmt: skip
    assert run(apply_retention(config)) == [old]
    left = {c.id for c in cases.queue(mission.conn, cases.QueueFilter(status="all"))}
    assert left == {recent, still_open}
    assert mission.conn.execute("SELECT count(*) FROM contact_message WHERE case_id = ?", (old,)).fetchone()[0] == 0
    deleted = [e for e in entries(mission.conn) if e.action == "case.deleted"]
    assert [e.detail["case"] for e in deleted] == [old] and deleted[0].detail["retention_days"] == 365


def write_config(root: Path, extra: str) -> Path:
    path = root / "embassy.toml"
    path.write_text(
        '[mission]\nname = "Test Mission"\n[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "s"\n'
        'jurisdiction = "LU"\n' + extra,
        encoding="utf-8",
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # aiosmtpd's hook
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_each_emergency_is_told_to_the_duty_address_without_content_and_retried(mission: Mission, tmp_path: Path) -> None:
    custody.init(mission.conn, InboxKeyPair.generate(), new_recovery_key(2, 2, "T"), 2, actor="test")
    port = free_port()
    path = write_config(tmp_path, f'[contact]\nduty_email = "duty@mission.example"\n[smtp]\nhost = "127.0.0.1"\n'
                                  f'port = {port}\nstarttls = false\nfrom = "mission@mission.example"\n')  # fmt: skip
    base = load_config(path)
    config = replace(base, mission=replace(base.mission, data_dir=mission.root))
    secret = "Petrov was detained at the border crossing"
    sub = check_submission("emergency", {"phone": "+7 700 1", "message": secret})
    run(with_service(mission.root, lambda s: s.submit(sub, [], "en", b"e" * 16, review=False), notify=True))
    general = check_submission("general", {"email": "a@b.example", "message": "no e-mail for this one"})
    run(with_service(mission.root, lambda s: s.submit(general, [], "en", b"g" * 16, review=False), notify=True))

    assert run(send_due(config, None)) == 0  # no server listens yet: the failure is kept, the case too
    problems = outbox_problems(mission.conn)
    assert problems is not None and problems["count"] == 1 and "Connect" in problems["error"]
    assert len(cases.queue(mission.conn, cases.QueueFilter())) == 2
    mission.conn.execute("UPDATE contact_outbox SET next_attempt = 0")  # the back-off has passed

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert run(send_due(config, None)) == 1
        assert run(send_due(config, None)) == 0  # sent once only
    finally:
        controller.stop()
    assert outbox_problems(mission.conn) is None
    [(sender, to, content)] = handler.messages
    assert sender == "mission@mission.example" and to == ["duty@mission.example"]
    assert b"emergency case arrived" in content and b"/staff/inbox" in content
    assert secret.encode() not in content and b"Petrov" not in content and b"+7 700" not in content


def test_the_outbox_row_and_the_case_are_one_transaction(mission: Mission) -> None:
    custody.init(mission.conn, InboxKeyPair.generate(), new_recovery_key(2, 2, "T"), 2, actor="test")
    mission.conn.execute("CREATE TRIGGER boom BEFORE INSERT ON contact_outbox BEGIN SELECT RAISE(ABORT, 'disk'); END")
    sub = check_submission("emergency", {"phone": "+7 700 1", "message": "help"})
    with pytest.raises(sqlite3.IntegrityError):
        run(with_service(mission.root, lambda s: s.submit(sub, [], "en", b"t" * 16, review=False), notify=True))
    assert mission.conn.execute("SELECT count(*) FROM contact_case").fetchone()[0] == 0  # no half-stored case
    assert mission.conn.execute("SELECT count(*) FROM contact_spent").fetchone()[0] == 0  # the form can be sent again
