"""Passwords, TOTP, recovery codes, API tokens and accounts: the rules, against a real mission database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyotp
import pytest

from embassy.mission_db import connect
from embassy.staff import accounts, recovery, tokens, totp
from embassy.staff.errors import LastFactorError, RoleError, StaffError, WeakPasswordError
from embassy.staff.passwords import (
    HASHER,
    check_new_password,
    hash_password,
    new_one_time_password,
    verify_password,
)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short pass", "too_short"),
        ("x" * 257, "too_long"),
        ("ambassador-of-the-year", "has_name"),
        ("test virtual mission rocks", "has_name"),
        ("password1234", "guessable"),
        ("qwertyuiop12", "guessable"),
        ("embassy2026!", "guessable"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "guessable"),
    ],
)
def test_weak_passwords_are_refused(password: str, reason: str) -> None:
    with pytest.raises(WeakPasswordError) as e:
        check_new_password(password, mission="Test Virtual Mission", account="ambassador")
    assert e.value.reason == reason


@pytest.mark.parametrize("password", ["quiet river under seven lanterns", "Zx9!qL2#vB7$", "ё ж ш щ: кириллица тоже", "x" * 30 + "7Gq!" + "y" * 200])
def test_strong_passwords_of_any_composition_are_taken_exactly(password: str) -> None:
    check_new_password(password, mission="Test Virtual Mission", account="ambassador")
    h = hash_password(password)
    assert verify_password(h, password)
    assert not verify_password(h, password.strip() + " ") and not verify_password(h, password.upper())


def test_hashes_are_argon2id_at_least_at_owasp_parameters() -> None:
    h = hash_password("quiet river under seven lanterns")
    assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert HASHER.memory_cost >= 19 * 1024 and HASHER.time_cost >= 2
    assert len(new_one_time_password()) == 29


def test_a_totp_code_is_good_for_its_step_and_the_one_before_and_only_once() -> None:
    secret = totp.new_secret()
    now = 1_800_000_015.0
    step = int(now // 30)
    code = pyotp.TOTP(secret).at(now)
    assert totp.matching_step(secret, code, None, now) == step
    assert totp.matching_step(secret, code, step, now) is None  # replayed
    assert totp.matching_step(secret, code, None, now + 30) == step  # typed as it turned over
    assert totp.matching_step(secret, code, None, now + 60) is None  # too old
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now + 30), None, now) is None  # from the future
    assert totp.matching_step(secret, "12345", None, now) is None
    assert totp.matching_step(secret, "١٢٣٤٥٦", None, now) is None  # only ASCII digits
    assert "<svg" in totp.qr_svg(totp.provisioning_uri(secret, "dana", "Mission"), "QR") and "style=" not in totp.qr_svg("x", "t")


def test_recovery_codes_have_120_bits_and_are_read_forgivingly() -> None:
    codes = recovery.new_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c) == 29 and len(c.replace("-", "")) * 5 == 120 for c in codes)
    c = codes[0]
    assert recovery.code_hash(c.lower().replace("-", " ")) == recovery.code_hash(c)
    confusable = c.replace("1", "I").replace("0", "O")
    assert recovery.code_hash(confusable) == recovery.code_hash(c)
    assert recovery.normalise("short") is None


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "mission.db")


def test_accounts_hold_several_roles_and_every_change_is_audited(db: sqlite3.Connection) -> None:
    a = accounts.create(db, "dana", ["publisher", "editor", "editor"], "h", actor="op")
    assert a.roles == ("editor", "publisher") and a.one_time and a.password_expires
    with pytest.raises(RoleError):
        accounts.create(db, "marat", ["king"], "h", actor="op")
    with pytest.raises(StaffError, match="already exists"):
        accounts.create(db, "dana", ["editor"], "h", actor="op")
    with pytest.raises(StaffError, match="not a staff name"):
        accounts.create(db, "Dana Smith", ["editor"], "h", actor="op")
    accounts.set_roles(db, "dana", ["admin"], actor="op")
    accounts.set_totp(db, "dana", "S" * 32, 5, actor="dana")
    with pytest.raises(LastFactorError):
        accounts.remove_totp(db, "dana", actor="dana")
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions == ["account.created", "account.roles_changed", "factor.totp_added"]
    assert not accounts.use_totp_step(db, "dana", 5) and accounts.use_totp_step(db, "dana", 6)


def test_a_token_is_stored_as_a_hash_and_dies_with_its_account(db: sqlite3.Connection) -> None:
    accounts.create(db, "dana", ["editor"], "h", actor="op")
    token, info = tokens.create(db, "dana", None, 30, actor="op")
    assert token.startswith(f"emb1_{info.id}_") and info.scopes == ("editor",)
    stored = b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in db.execute("SELECT * FROM staff_token").fetchone())
    assert token.split("_")[2].encode() not in stored
    principal = tokens.authenticate(db, token, method="GET", path="/api/v1/me")
    assert principal is not None and principal.roles == {"editor"}
    accounts.set_disabled(db, "dana", True, actor="op")
    assert tokens.authenticate(db, token, method="GET", path="/api/v1/me") is None
    assert tokens.get(db, info.id).revoked is not None
    with pytest.raises(StaffError, match="disabled"):
        tokens.create(db, "dana", None, 30, actor="op")
    with pytest.raises(StaffError, match="between 1 and 366"):
        tokens.create(db, "dana", None, 0, actor="op")
