"""API tokens for scripts: ``emb1_<id>_<secret>``, sent as ``Authorization: Bearer``.

Only the token's id (public, 16 hex digits, shown in lists) and the SHA-256 of its secret
(256 random bits, so a plain hash is enough) are stored. A token carries scopes, a subset of
its account's roles; what it may do is the intersection of its scopes with the roles the
account holds at the moment of use, so taking a role away also takes it from every token. It
expires after its days, can be revoked, and ends with its account's disabling.
"""

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embassy.audit.log import append, transaction
from embassy.staff import accounts
from embassy.staff.errors import NoSuchAccountError, RoleError, StaffError
from embassy.staff.roles import parse_roles

PREFIX = "emb1"
TOKEN_RE = re.compile(r"^emb1_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    account: str
    scopes: tuple[str, ...]
    label: str
    created: str
    expires: str
    revoked: str | None
    last_used: str | None

    @property
    def active(self) -> bool:
        return self.revoked is None and not accounts.is_past(self.expires)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for, and the roles it may use now."""

    account: str
    token_id: str
    roles: frozenset[str]


def _secret_hash(secret: str) -> bytes:
    return hashlib.sha256(b"virtual-embassy/api-token/v1\n" + secret.encode()).digest()


def create(
    conn: sqlite3.Connection,
    name: str,
    scopes: Sequence[str] | None,
    days: int = DEFAULT_DAYS,
    *,
    actor: str,
    label: str = "",
) -> tuple[str, TokenInfo]:
    """A new token for ``name`` (any account that is not disabled); the token string is returned once."""
    if not 1 <= days <= MAX_DAYS:
        raise StaffError(f"--days {days}: a token lives between 1 and {MAX_DAYS} days")
    account = accounts.get(conn, name)
    if account.disabled:
        raise StaffError(f"account {name!r} is disabled; enable it before giving it a token")
    wanted = parse_roles(scopes) if scopes else account.roles
    extra = sorted(set(wanted) - set(account.roles))
    if extra:
        raise RoleError(f"account {name!r} does not hold the role {extra[0]!r}; scopes must be among its roles")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires = accounts.in_days(days)
    label = label.strip()[:60] or f"token {token_id[:6]}"
    with transaction(conn):
        conn.execute(
            "INSERT INTO staff_token (id, secret_hash, account, scopes, label, created, expires) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token_id, _secret_hash(secret), name, json.dumps(list(wanted)), label, accounts.utc_now(), expires),
        )
        append(
            conn,
            actor,
            "token.created",
            {"account": name, "token": token_id, "scopes": list(wanted), "expires": expires},
        )
    return f"{PREFIX}_{token_id}_{secret}", get(conn, token_id)


def _info(row: tuple[Any, ...]) -> TokenInfo:
    tid, account, scopes, label, created, expires, revoked, last = row
    return TokenInfo(
        str(tid), str(account), tuple(json.loads(str(scopes))), str(label), str(created), str(expires),
        revoked if revoked is None else str(revoked), last if last is None else str(last),
    )  # fmt: skip


_SELECT = "SELECT id, account, scopes, label, created, expires, revoked, last_used FROM staff_token"


def get(conn: sqlite3.Connection, token_id: str) -> TokenInfo:
    row = conn.execute(_SELECT + " WHERE id = ?", (token_id,)).fetchone()
    if row is None:
        raise NoSuchAccountError(f"no API token has the id {token_id!r}")
    return _info(row)


def list_for(conn: sqlite3.Connection, name: str | None = None) -> list[TokenInfo]:
    if name is None:
        return [_info(r) for r in conn.execute(_SELECT + " ORDER BY created DESC")]
    return [_info(r) for r in conn.execute(_SELECT + " WHERE account = ? ORDER BY created DESC", (name,))]


def revoke(conn: sqlite3.Connection, token_id: str, *, actor: str, owner: str | None = None) -> TokenInfo:
    """Revoke a token (``owner``: only if it belongs to that account, for the staff area)."""
    with transaction(conn):
        info = get(conn, token_id)
        if owner is not None and info.account != owner:
            raise NoSuchAccountError(f"no API token has the id {token_id!r}")
        if info.revoked is None:
            conn.execute("UPDATE staff_token SET revoked = ? WHERE id = ?", (accounts.utc_now(), token_id))
            append(conn, actor, "token.revoked", {"account": info.account, "token": token_id})
    return get(conn, token_id)


def authenticate(conn: sqlite3.Connection, presented: str, *, method: str, path: str) -> Principal | None:
    """The principal a presented token speaks for, or None (malformed, unknown, wrong secret,
    expired, revoked, or its account disabled). A good token's use is audited."""
    m = TOKEN_RE.match(presented)
    if m is None:
        return None
    token_id, secret = m.groups()
    row = conn.execute(
        "SELECT t.secret_hash, t.account, t.scopes, t.expires, t.revoked, a.disabled FROM staff_token t "
        "JOIN staff_account a ON a.name = t.account WHERE t.id = ?",
        (token_id,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[0]), _secret_hash(secret)):
        return None
    _, name, scopes, expires, revoked, disabled = row
    if revoked is not None or disabled or accounts.is_past(str(expires)):
        return None
    account = accounts.get(conn, str(name))
    roles = frozenset(json.loads(str(scopes))) & frozenset(account.roles)
    with transaction(conn):
        conn.execute("UPDATE staff_token SET last_used = ? WHERE id = ?", (accounts.utc_now(), token_id))
        append(conn, str(name), "token.used", {"token": token_id, "method": method, "path": path[:200]})
    return Principal(str(name), token_id, roles)
