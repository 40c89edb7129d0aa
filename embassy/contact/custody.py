"""The inbox key's custody in the mission database: inbox keys, officer keys, grants, recovery.

Tables (embassy/contact/schema.py): ``inbox_key`` (public halves, each with its recovery key's
public half and the inbox private half sealed to it), ``officer_key`` (each officer's key, its
private half under their password), ``inbox_grant`` (an inbox key's private half sealed to an
officer's key). Crypto lives in keys/inbox_keys.py; this module only stores and finds. Every
change is audited in the same transaction. A reset account loses its officer key and grants at
once (a trigger of the contact schema: the old password must open nothing any more).

Who may hold a grant: an enabled account with the role ``consular`` or ``admin``.
"""

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from embassy.audit.log import append, transaction
from embassy.contact.cases import utc_now
from embassy.contact.errors import WrongStateError
from embassy.mission_db import MISSION_DB, connect
from keys.inbox_keys import InboxKeyError, InboxKeyPair, OfficerKey, RecoverySplit, unwrap, wrap_for
from keys.statement_keys import ServingKeys

INBOX_ROLES = ("consular", "admin")
CONTACT_KEY_PURPOSE = "contact-forms"  # the master key's subkey that signs the public forms' tokens


@dataclass(frozen=True, slots=True)
class InboxKey:
    id: str
    public: bytes
    created: str
    current: bool
    recovery_id: str
    recovery_public: bytes
    recovery_wrap: bytes
    recovery_threshold: int
    recovery_shares: int


@dataclass(frozen=True, slots=True)
class OfficerAccess:
    name: str
    roles: tuple[str, ...]
    disabled: bool
    has_key: bool
    has_access: bool  # a grant of the current inbox key

    @property
    def eligible(self) -> bool:
        return not self.disabled and any(r in INBOX_ROLES for r in self.roles)


_KEY = (
    "SELECT id, public, created, current, recovery_id, recovery_public, recovery_wrap, recovery_threshold, "
    "recovery_shares FROM inbox_key"
)


def _key(row: tuple[Any, ...]) -> InboxKey:
    i, pub, created, current, rid, rpub, rwrap, threshold, shares = row
    return InboxKey(str(i), bytes(pub), str(created), bool(current), str(rid), bytes(rpub), bytes(rwrap),
                    int(threshold), int(shares))  # fmt: skip


def current_key(conn: sqlite3.Connection) -> InboxKey | None:
    row = conn.execute(_KEY + " WHERE current = 1").fetchone()
    return _key(row) if row else None


def all_keys(conn: sqlite3.Connection) -> list[InboxKey]:
    return [_key(r) for r in conn.execute(_KEY + " ORDER BY created, id")]


def init(conn: sqlite3.Connection, pair: InboxKeyPair, recovery: RecoverySplit, threshold: int, *,
         actor: str) -> list[str]:  # fmt: skip
    """Make ``pair`` the inbox key (refused when there is one), wrapped for the recovery key and
    for every eligible officer who has an officer key; the names granted."""
    with transaction(conn):
        if current_key(conn) is not None:
            raise WrongStateError("the inbox has a key already; messages sealed to it would be lost with it")
        conn.execute(
            "INSERT INTO inbox_key (id, public, created, current, recovery_id, recovery_public, recovery_wrap, "
            "recovery_threshold, recovery_shares) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)",
            (pair.id, pair.public, utc_now(), recovery.id, recovery.public, wrap_for(recovery.public, pair, "recovery"),
             threshold, len(recovery.shares)),
        )  # fmt: skip
        granted = [o.name for o in access_list(conn) if o.eligible and o.has_key]
        for name in granted:
            _grant(conn, [pair], name, actor)
        append(conn, actor, "inbox.key_created", {"inbox_key": pair.id, "recovery_key": recovery.id,
                                                  "threshold": threshold, "shares": len(recovery.shares),
                                                  "granted": granted})  # fmt: skip
    return granted


# -- officer keys --------------------------------------------------------------------------------------


def officer_key(conn: sqlite3.Connection, name: str) -> OfficerKey | None:
    row = conn.execute("SELECT public, wrapped, kdf FROM officer_key WHERE account = ?", (name,)).fetchone()
    return OfficerKey(bytes(row[0]), bytes(row[1]), str(row[2])) if row else None


def set_officer_key(conn: sqlite3.Connection, name: str, key: OfficerKey, *, actor: str) -> None:
    """Store ``name``'s officer key. A new key pair (not the same one re-wrapped) makes the grants
    sealed to the old one useless: they are removed, and the loss audited."""
    with transaction(conn):
        old = officer_key(conn, name)
        conn.execute(
            "INSERT INTO officer_key (account, public, wrapped, kdf, created) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (account) DO UPDATE SET public = excluded.public, wrapped = excluded.wrapped, "
            "kdf = excluded.kdf",
            (name, key.public, key.wrapped, key.kdf, utc_now()),
        )
        if old is None or old.public != key.public:
            lost = conn.execute("DELETE FROM inbox_grant WHERE account = ?", (name,)).rowcount
            append(conn, actor, "officer_key.created", {"account": name, "key": key.id, "grants_lost": lost})


def eligible(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM staff_account a JOIN staff_role r ON r.account = a.name WHERE a.name = ? AND a.disabled = 0 "
        "AND r.role IN ('consular', 'admin')",
        (name,),
    ).fetchone()
    return row is not None


def access_list(conn: sqlite3.Connection) -> list[OfficerAccess]:
    current = current_key(conn)
    rows = conn.execute(
        "SELECT a.name, a.disabled, (SELECT group_concat(role, ' ') FROM staff_role r WHERE r.account = a.name), "
        "EXISTS (SELECT 1 FROM officer_key k WHERE k.account = a.name), "
        "EXISTS (SELECT 1 FROM inbox_grant g WHERE g.account = a.name AND g.inbox_key = ?) "
        "FROM staff_account a ORDER BY a.name",
        (current.id if current else "",),
    ).fetchall()
    return [OfficerAccess(str(n), tuple(str(r or "").split()), bool(d), bool(k), bool(g)) for n, d, r, k, g in rows]


# -- grants --------------------------------------------------------------------------------------------


def _grant(conn: sqlite3.Connection, pairs: list[InboxKeyPair], name: str, actor: str) -> None:
    key = officer_key(conn, name)
    if key is None:
        raise WrongStateError(f"{name!r} has not signed in since becoming an officer: no officer key to grant to yet")
    for pair in pairs:
        conn.execute(
            "INSERT INTO inbox_grant (inbox_key, account, officer_key, wrapped, granted_by, created) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (inbox_key, account) DO UPDATE SET officer_key = excluded.officer_key, "
            "wrapped = excluded.wrapped, granted_by = excluded.granted_by, created = excluded.created",
            (pair.id, name, key.public, wrap_for(key.public, pair, f"officer:{name}"), actor, utc_now()),
        )


def grant(conn: sqlite3.Connection, pairs: list[InboxKeyPair], name: str, *, actor: str) -> None:
    """Give ``name`` every inbox key in ``pairs`` (the granter's own: all it holds)."""
    with transaction(conn):
        if not eligible(conn, name):
            raise WrongStateError(f"{name!r} is not an enabled consular officer or admin")
        _grant(conn, pairs, name, actor)
        append(conn, actor, "inbox.granted", {"account": name, "inbox_keys": [p.id for p in pairs]})


def revoke(conn: sqlite3.Connection, name: str, *, actor: str) -> int:
    with transaction(conn):
        removed = conn.execute("DELETE FROM inbox_grant WHERE account = ?", (name,)).rowcount
        append(conn, actor, "inbox.revoked", {"account": name, "grants": removed})
    return removed


def open_grants(conn: sqlite3.Connection, name: str, officer_private: bytes) -> list[InboxKeyPair]:
    """Every inbox key granted to ``name``, opened with its officer key (only while eligible)."""
    if not eligible(conn, name):
        return []
    key = officer_key(conn, name)
    out = []
    for inbox_key, public, wrapped in conn.execute(
        "SELECT inbox_key, officer_key, wrapped FROM inbox_grant WHERE account = ?", (name,)
    ).fetchall():
        if key is None or bytes(public) != key.public:
            continue
        try:
            out.append(unwrap(bytes(wrapped), officer_private, str(inbox_key), f"officer:{name}"))
        except InboxKeyError:
            continue  # altered in the database: this grant opens nothing (the officer is re-granted)
    return out


def recover(conn: sqlite3.Connection, recovery_private: bytes, name: str, *, actor: str) -> list[str]:
    """With the recovery key from the custodians' shares, grant ``name`` every inbox key."""
    pairs = [unwrap(k.recovery_wrap, recovery_private, k.id, "recovery") for k in all_keys(conn)]
    with transaction(conn):
        if not eligible(conn, name):
            raise WrongStateError(f"{name!r} is not an enabled consular officer or admin")
        _grant(conn, pairs, name, actor)
        append(conn, actor, "inbox.recovered", {"account": name, "inbox_keys": [p.id for p in pairs]})
    return [p.id for p in pairs]


def serving_keys_with_inbox(keys: ServingKeys, data_dir: Path) -> ServingKeys:
    """``keys`` with the current inbox key's public half, for the workers to publish and seal to."""
    current = current_key_of(data_dir)
    if current is None:
        return keys
    return replace(keys, inbox_key_id=current.id, inbox_public=current.public, inbox_created=current.created)


def current_key_of(data_dir: Path) -> InboxKey | None:
    """The current inbox key of the mission database in ``data_dir`` (None: none yet, or no database)."""
    if not (data_dir / MISSION_DB).exists():
        return None
    conn = connect(data_dir / MISSION_DB)
    try:
        return current_key(conn)
    finally:
        conn.close()
