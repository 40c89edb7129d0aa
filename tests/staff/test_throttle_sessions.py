"""Throttling and sessions against a real sessions database, with a clock the test moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from embassy.mission_db import connect_sessions
from embassy.staff.sessions import ABSOLUTE_SECONDS, IDLE_SECONDS, MAX_PER_ACCOUNT, PENDING_SECONDS, SessionStore
from embassy.staff.throttle import ACCOUNT, ADDRESS, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_delays_grow_then_the_name_is_locked_until_an_admin_lifts_it(tmp_path: Path, clock: Clock) -> None:
    conn = connect_sessions(tmp_path)
    t = Throttle(conn, clock)
    key = [t.account_key("Dana")]
    waits = []
    for _ in range(ACCOUNT.lock_after):
        clock.now += t.wait(key)  # the attacker waits exactly as long as asked
        waits.append(t.wait(key))
        t.fail(key)
    assert waits == [0] * ACCOUNT.lock_after
    assert t.locked(key[0]) == ACCOUNT.lock_seconds  # the tenth failure locks for 30 minutes
    assert t.wait([t.account_key("dana ")]) == ACCOUNT.lock_seconds  # names are compared as typed, case-free
    clock.now += ACCOUNT.lock_seconds - 1
    assert t.wait(key) == 1
    assert t.clear(key[0]) and t.wait(key) == 0  # what `embassy staff unlock` does
    conn.close()


def test_the_delays_in_seconds(tmp_path: Path, clock: Clock) -> None:
    conn = connect_sessions(tmp_path)
    t = Throttle(conn, clock)
    key = [t.account_key("marat")]
    delays = []
    for _ in range(8):
        t.fail(key)
        delays.append(t.wait(key))
        clock.now += delays[-1]
    assert delays == [0, 0, 2, 4, 8, 16, 32, 64]
    clock.now += ACCOUNT.forget_after  # a day later the count starts again
    t.fail(key)
    assert t.wait(key) == 0
    conn.close()


def test_addresses_are_counted_apart_and_hashed(tmp_path: Path, clock: Clock) -> None:
    conn = connect_sessions(tmp_path)
    t = Throttle(conn, clock)
    one, other = t.address_key("203.0.113.5"), t.address_key("203.0.113.6")
    for _ in range(ADDRESS.free):  # ten free, then a second's wait
        t.fail([one])
    assert t.wait([one]) == 1 and t.wait([other]) == 0
    raw = b"".join(bytes(k) for (k,) in conn.execute("SELECT key FROM throttle"))
    assert b"203.0.113" not in raw
    conn.close()


def test_sessions_end_when_idle_or_old(tmp_path: Path, clock: Clock) -> None:
    conn = connect_sessions(tmp_path)
    store = SessionStore(conn, clock)
    token, _ = store.create("aliya", "full", "192.0.2.1", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120")
    assert store.load(token) is not None
    clock.now += IDLE_SECONDS - 1
    assert store.load(token) is not None  # used: the idle clock starts again
    for _ in range(ABSOLUTE_SECONDS // (IDLE_SECONDS - 60)):
        clock.now += IDLE_SECONDS - 60
        if clock.now - 1_800_000_000 >= ABSOLUTE_SECONDS:
            break
        assert store.load(token) is not None
    clock.now = 1_800_000_000 + ABSOLUTE_SECONDS
    assert store.load(token) is None  # 12 hours after sign-in, however busy
    idle, _ = store.create("aliya", "full", "192.0.2.1", "")
    clock.now += IDLE_SECONDS
    assert store.load(idle) is None
    pending, _ = store.create("aliya", "factor", "192.0.2.1", "")
    clock.now += PENDING_SECONDS
    assert store.load(pending) is None
    assert conn.execute("SELECT count(*) FROM session").fetchone()[0] == 0
    conn.close()


def test_a_new_stage_is_a_new_id_and_the_old_one_stops(tmp_path: Path, clock: Clock) -> None:
    conn = connect_sessions(tmp_path)
    store = SessionStore(conn, clock)
    token, session = store.create("aliya", "factor", "192.0.2.1", "")
    clock.now += 5
    new_token, new = store.advance(session, "full", reauthenticated=True)
    assert new_token != token and new.csrf != session.csrf and new.public_id == session.public_id
    assert store.load(token) is None and store.load(new_token) is not None
    assert new.expires == clock.now + ABSOLUTE_SECONDS
    stored = [bytes(h) for (h,) in conn.execute("SELECT id_hash FROM session")]
    assert new_token.encode() not in b"".join(stored)  # only a hash of the id is kept
    conn.close()


def test_an_account_keeps_at_most_ten_sessions(tmp_path: Path, clock: Clock) -> None:
    conn = connect_sessions(tmp_path)
    store = SessionStore(conn, clock)
    tokens = []
    for _ in range(MAX_PER_ACCOUNT + 2):
        clock.now += 1
        tokens.append(store.create("aliya", "full", "192.0.2.1", "")[0])
    assert [store.load(t) is not None for t in tokens] == [False, False] + [True] * MAX_PER_ACCOUNT
    conn.close()


def test_a_passkey_challenge_is_used_once_and_expires(tmp_path: Path, clock: Clock) -> None:
    conn = connect_sessions(tmp_path)
    store = SessionStore(conn, clock)
    _, session = store.create("aliya", "factor", "192.0.2.1", "")
    store.set_challenge(session, b"c" * 32)
    assert store.take_challenge(session) == b"c" * 32
    assert store.take_challenge(session) is None
    store.set_challenge(session, b"d" * 32)
    clock.now += 301
    assert store.take_challenge(session) is None
    conn.close()
