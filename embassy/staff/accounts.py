"""Staff accounts in the mission database: roles, password hashes (never passwords), factors.

Every change is written together with its audit entry in one transaction (embassy/audit/log.py),
so there is no change without its record. Functions take an open mission-database connection and
do no hashing: callers hash on their own thread or pool (:mod:`embassy.staff.passwords`).
"""

import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from embassy.audit.log import append, transaction
from embassy.staff.errors import AccountExistsError, LastFactorError, NoSuchAccountError
from embassy.staff.roles import check_name, parse_roles

ONE_TIME_DAYS = 3  # a one-time password printed by `staff add` / `staff reset` expires after this


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def is_past(iso: str | None) -> bool:
    return iso is not None and iso <= utc_now()


@dataclass(frozen=True, slots=True)
class Passkey:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    label: str
    created: str
    last_used: str | None


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    roles: tuple[str, ...]
    password_hash: str
    one_time: bool
    password_expires: str | None
    disabled: bool
    created: str
    last_sign_in: str | None
    totp_secret: str | None
    totp_last_step: int | None
    webauthn_user_id: bytes
    passkeys: int
    recovery_codes_left: int

    @property
    def factors(self) -> list[str]:
        """The second factors enrolled: ``passkey`` and/or ``totp`` (recovery codes are a fallback)."""
        return [f for f, on in (("passkey", self.passkeys > 0), ("totp", self.totp_secret is not None)) if on]

    @property
    def one_time_expired(self) -> bool:
        return self.one_time and is_past(self.password_expires)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "roles": list(self.roles),
            "factors": self.factors,
            "disabled": self.disabled,
            "last_sign_in": self.last_sign_in,
            "created": self.created,
            "must_change_password": self.one_time,
            "recovery_codes_left": self.recovery_codes_left,
        }


_SELECT = """
SELECT a.name, a.password_hash, a.password_one_time, a.password_expires, a.disabled, a.created, a.last_sign_in,
       a.totp_secret, a.totp_last_step, a.webauthn_user_id,
       (SELECT group_concat(role, ' ') FROM staff_role r WHERE r.account = a.name),
       (SELECT count(*) FROM staff_passkey p WHERE p.account = a.name),
       (SELECT count(*) FROM staff_recovery_code c WHERE c.account = a.name AND c.used IS NULL)
FROM staff_account a
"""


def _account(row: tuple[Any, ...]) -> Account:
    name, pw, one_time, expires, disabled, created, last, secret, step, user_id, roles, passkeys, codes = row
    return Account(
        name=str(name),
        roles=parse_roles(str(roles or "").split()) if roles else (),
        password_hash=str(pw),
        one_time=bool(one_time),
        password_expires=expires if expires is None else str(expires),
        disabled=bool(disabled),
        created=str(created),
        last_sign_in=last if last is None else str(last),
        totp_secret=secret if secret is None else str(secret),
        totp_last_step=step if step is None else int(step),
        webauthn_user_id=bytes(user_id),
        passkeys=int(passkeys),
        recovery_codes_left=int(codes),
    )


def find(conn: sqlite3.Connection, name: str) -> Account | None:
    row = conn.execute(_SELECT + " WHERE a.name = ?", (name,)).fetchone()
    return _account(row) if row else None


def get(conn: sqlite3.Connection, name: str) -> Account:
    account = find(conn, name)
    if account is None:
        raise NoSuchAccountError(f"no staff account is named {name!r}")
    return account


def list_accounts(conn: sqlite3.Connection) -> list[Account]:
    return [_account(r) for r in conn.execute(_SELECT + " ORDER BY a.name")]


def exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM staff_account WHERE name = ?", (name,)).fetchone() is not None


def create(
    conn: sqlite3.Connection,
    name: str,
    roles: Sequence[str],
    password_hash: str,
    *,
    actor: str,
    one_time_days: float | None = ONE_TIME_DAYS,
) -> Account:
    """A new account whose password is one-time (it must be changed at the first sign-in);
    ``one_time_days=None``: that password does not expire (the demo's account only)."""
    check_name(name)
    wanted = parse_roles(roles)
    expires = None if one_time_days is None else in_days(one_time_days)
    with transaction(conn):
        try:
            conn.execute(
                "INSERT INTO staff_account (name, password_hash, password_one_time, password_expires, created, "
                "webauthn_user_id) VALUES (?, ?, 1, ?, ?, ?)",
                (name, password_hash, expires, utc_now(), secrets.token_bytes(32)),
            )
        except sqlite3.IntegrityError as e:
            raise AccountExistsError(f"a staff account named {name!r} already exists") from e
        conn.executemany("INSERT INTO staff_role (account, role) VALUES (?, ?)", [(name, r) for r in wanted])
        append(conn, actor, "account.created", {"account": name, "roles": list(wanted)})
    return get(conn, name)


def set_roles(conn: sqlite3.Connection, name: str, roles: Sequence[str], *, actor: str) -> Account:
    wanted = parse_roles(roles)
    with transaction(conn):
        before = get(conn, name)
        conn.execute("DELETE FROM staff_role WHERE account = ?", (name,))
        conn.executemany("INSERT INTO staff_role (account, role) VALUES (?, ?)", [(name, r) for r in wanted])
        append(conn, actor, "account.roles_changed", {"account": name, "from": list(before.roles), "to": list(wanted)})
    return get(conn, name)


def set_disabled(conn: sqlite3.Connection, name: str, disabled: bool, *, actor: str) -> Account:
    with transaction(conn):
        get(conn, name)
        conn.execute("UPDATE staff_account SET disabled = ? WHERE name = ?", (int(disabled), name))
        if disabled:
            revoked = conn.execute(
                "UPDATE staff_token SET revoked = ? WHERE account = ? AND revoked IS NULL", (utc_now(), name)
            ).rowcount
        append(
            conn,
            actor,
            "account.disabled" if disabled else "account.enabled",
            {"account": name, **({"tokens_revoked": revoked} if disabled else {})},
        )
    return get(conn, name)


def reset(conn: sqlite3.Connection, name: str, password_hash: str, *, actor: str) -> Account:
    """A new one-time password; every factor and recovery code cleared (enrolled again at sign-in)."""
    with transaction(conn):
        get(conn, name)
        conn.execute(
            "UPDATE staff_account SET password_hash = ?, password_one_time = 1, password_expires = ?, "
            "totp_secret = NULL, totp_last_step = NULL WHERE name = ?",
            (password_hash, in_days(ONE_TIME_DAYS), name),
        )
        passkeys = conn.execute("DELETE FROM staff_passkey WHERE account = ?", (name,)).rowcount
        conn.execute("DELETE FROM staff_recovery_code WHERE account = ?", (name,))
        append(conn, actor, "account.reset", {"account": name, "passkeys_removed": passkeys})
    return get(conn, name)


def set_password(conn: sqlite3.Connection, name: str, password_hash: str, *, actor: str, rehash: bool = False) -> None:
    """The account's own new password (not one-time). ``rehash``: the same password under stronger
    parameters, recorded as such."""
    with transaction(conn):
        conn.execute(
            "UPDATE staff_account SET password_hash = ?, password_one_time = 0, password_expires = NULL "
            "WHERE name = ?",
            (password_hash, name),
        )
        if not rehash:
            append(conn, actor, "password.changed", {"account": name})


def record_sign_in(conn: sqlite3.Connection, name: str, method: str, address: str) -> None:
    with transaction(conn):
        conn.execute("UPDATE staff_account SET last_sign_in = ? WHERE name = ?", (utc_now(), name))
        append(conn, name, "sign_in.success", {"method": method, "address": address})


# -- TOTP ------------------------------------------------------------------------------------------


def set_totp(conn: sqlite3.Connection, name: str, secret: str, step: int, *, actor: str) -> None:
    """Enrol TOTP; ``step`` is the step of the code that confirmed it (it cannot be used again)."""
    with transaction(conn):
        replaced = get(conn, name).totp_secret is not None
        conn.execute(
            "UPDATE staff_account SET totp_secret = ?, totp_last_step = ? WHERE name = ?", (secret, step, name)
        )
        append(conn, actor, "factor.totp_added", {"account": name, "replaced": replaced})


def remove_totp(conn: sqlite3.Connection, name: str, *, actor: str) -> None:
    with transaction(conn):
        account = get(conn, name)
        if account.passkeys == 0:
            raise LastFactorError("the authenticator app is this account's only second factor; add a passkey first")
        conn.execute("UPDATE staff_account SET totp_secret = NULL, totp_last_step = NULL WHERE name = ?", (name,))
        append(conn, actor, "factor.totp_removed", {"account": name})


def use_totp_step(conn: sqlite3.Connection, name: str, step: int) -> bool:
    """Record ``step`` as used, only if it is later than the last one (atomic across processes)."""
    cur = conn.execute(
        "UPDATE staff_account SET totp_last_step = ? WHERE name = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
        (step, name, step),
    )
    return cur.rowcount == 1


# -- passkeys --------------------------------------------------------------------------------------


def passkeys(conn: sqlite3.Connection, name: str) -> list[Passkey]:
    rows = conn.execute(
        "SELECT credential_id, public_key, sign_count, label, created, last_used FROM staff_passkey "
        "WHERE account = ? ORDER BY created",
        (name,),
    ).fetchall()
    return [Passkey(bytes(c), bytes(k), int(n), str(lb), str(cr), u) for c, k, n, lb, cr, u in rows]


def add_passkey(
    conn: sqlite3.Connection, name: str, credential_id: bytes, public_key: bytes, sign_count: int, label: str, *, actor: str
) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO staff_passkey (credential_id, account, public_key, sign_count, label, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (credential_id, name, public_key, sign_count, label, utc_now()),
        )
        append(conn, actor, "factor.passkey_added", {"account": name, "passkey": label})


def remove_passkey(conn: sqlite3.Connection, name: str, credential_id: bytes, *, actor: str) -> None:
    with transaction(conn):
        account = get(conn, name)
        row = conn.execute(
            "SELECT label FROM staff_passkey WHERE account = ? AND credential_id = ?", (name, credential_id)
        ).fetchone()
        if row is None:
            raise NoSuchAccountError(f"account {name!r} has no such passkey")
        if account.passkeys == 1 and account.totp_secret is None:
            raise LastFactorError("this passkey is the account's only second factor; add another first")
        conn.execute("DELETE FROM staff_passkey WHERE credential_id = ?", (credential_id,))
        append(conn, actor, "factor.passkey_removed", {"account": name, "passkey": str(row[0])})


def passkey_used(conn: sqlite3.Connection, credential_id: bytes, sign_count: int) -> None:
    conn.execute(
        "UPDATE staff_passkey SET sign_count = ?, last_used = ? WHERE credential_id = ?",
        (sign_count, utc_now(), credential_id),
    )


# -- recovery codes --------------------------------------------------------------------------------


def replace_recovery_codes(conn: sqlite3.Connection, name: str, hashes: Sequence[bytes], *, actor: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM staff_recovery_code WHERE account = ?", (name,))
        now = utc_now()
        conn.executemany(
            "INSERT INTO staff_recovery_code (code_hash, account, created) VALUES (?, ?, ?)",
            [(h, name, now) for h in hashes],
        )
        append(conn, actor, "factor.recovery_codes_generated", {"account": name, "count": len(hashes)})


def use_recovery_code(conn: sqlite3.Connection, name: str, code_hash: bytes) -> bool:
    """Mark the code used if it is one of the account's unused codes (atomic: it works once)."""
    with transaction(conn):
        cur = conn.execute(
            "UPDATE staff_recovery_code SET used = ? WHERE code_hash = ? AND account = ? AND used IS NULL",
            (utc_now(), code_hash, name),
        )
        if cur.rowcount != 1:
            return False
        left = conn.execute(
            "SELECT count(*) FROM staff_recovery_code WHERE account = ? AND used IS NULL", (name,)
        ).fetchone()[0]
        append(conn, name, "factor.recovery_code_used", {"account": name, "left": int(left)})
    return True

