"""Cases in the mission database: what arrives, what officers do, what retention deletes.

Synchronous functions on an open mission-database connection (callers pick the thread). Every
staff action is written with its audit entry in one transaction (embassy/audit/log.py). Every
submission spends its form nonce in the transaction that stores it (embassy/contact/guard.py), so
one form makes at most one case or follow-up, whatever the browser or a script replays.
"""

import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from embassy.audit.log import append, transaction
from embassy.contact.errors import CaseNotFoundError, FormTokenError, WrongStateError
from embassy.contact.guard import TOKEN_SECONDS
from embassy.contact.model import CHANNELS, STATUSES


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def new_case_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    channel: str
    type: str
    lang: str
    priority: int
    status: str
    review: bool
    assigned: str | None
    received: str
    updated: str
    closed: str | None
    code_public: bytes
    inbox_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "channel": self.channel, "type": self.type, "lang": self.lang, "status": self.status,
            "received": self.received, "priority": self.priority, "updated": self.updated, "review": self.review,
            "assigned": self.assigned, "closed": self.closed,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    kind: str  # inquiry | followup | reply
    author: str  # "public" or the replying officer's account
    sealed: bytes
    created: str
    attachments: tuple[tuple[int, int], ...] = ()  # (attachment id, size)


_CASE = (
    "SELECT id, channel, type, lang, priority, status, review, assigned, received, updated, closed, code_public, "
    "inbox_key FROM contact_case"
)


def _case(row: tuple[Any, ...]) -> Case:
    i, ch, ty, lang, prio, status, review, assigned, received, updated, closed, pub, key = row
    return Case(str(i), str(ch), str(ty), str(lang), int(prio), str(status), bool(review),
                None if assigned is None else str(assigned), str(received), str(updated),
                None if closed is None else str(closed), bytes(pub), str(key))  # fmt: skip


@dataclass(frozen=True, slots=True)
class NewCase:
    """Everything stored for a new case: clear routing metadata and sealed envelopes only."""

    id: str
    lookup: bytes
    code_public: bytes
    code_kdf: str
    inbox_key: str
    channel: str
    type: str
    lang: str
    priority: int
    review: bool
    message: bytes  # sealed
    attachments: tuple[bytes, ...]  # sealed
    attachment_sizes: tuple[int, ...]


def spend(conn: sqlite3.Connection, nonce: bytes) -> None:
    """Mark a form nonce used (inside the caller's transaction); FormTokenError("spent") if it was."""
    try:
        conn.execute("INSERT INTO contact_spent (nonce, expires) VALUES (?, ?)", (nonce, _now() + TOKEN_SECONDS + 600))
    except sqlite3.IntegrityError as e:
        raise FormTokenError("spent") from e


def _now() -> float:
    return datetime.now(UTC).timestamp()


def create(conn: sqlite3.Connection, case: NewCase, nonce: bytes, *, notify: bool) -> None:
    """Store a new case, spending ``nonce``; an emergency with ``notify`` queues a duty e-mail."""
    now = utc_now()
    with transaction(conn):
        spend(conn, nonce)
        conn.execute(
            "INSERT INTO contact_case (id, lookup, code_public, code_kdf, inbox_key, channel, type, lang, priority, "
            "status, review, received, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?)",
            (case.id, case.lookup, case.code_public, case.code_kdf, case.inbox_key, case.channel, case.type, case.lang,
             case.priority, int(case.review), now, now),
        )  # fmt: skip
        _add_message(conn, case.id, "inquiry", "public", case.message, case.attachments, case.attachment_sizes, now)
        if notify and case.channel == "emergency":
            conn.execute(
                "INSERT INTO contact_outbox (case_id, kind, created, next_attempt) VALUES (?, 'duty', ?, ?)",
                (case.id, now, _now()),
            )


def _add_message(
    conn: sqlite3.Connection, case_id: str, kind: str, author: str, sealed: bytes,
    attachments: Sequence[bytes], sizes: Sequence[int], now: str,
) -> int:  # fmt: skip
    cur = conn.execute(
        "INSERT INTO contact_message (case_id, kind, author, sealed, created) VALUES (?, ?, ?, ?, ?)",
        (case_id, kind, author, sealed, now),
    )
    message_id = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT INTO contact_attachment (case_id, message_id, sealed, size, created) VALUES (?, ?, ?, ?, ?)",
        [(case_id, message_id, a, s, now) for a, s in zip(attachments, sizes, strict=True)],
    )
    return message_id


def find_by_lookup(conn: sqlite3.Connection, lookups: Sequence[bytes]) -> Case | None:
    for lookup in lookups:
        row = conn.execute(_CASE + " WHERE lookup = ?", (lookup,)).fetchone()
        if row is not None:
            return _case(row)
    return None


def code_kdfs(conn: sqlite3.Connection) -> list[str]:
    """Every set of tracking-code KDF parameters in use (usually one)."""
    return [str(r[0]) for r in conn.execute("SELECT DISTINCT code_kdf FROM contact_case")]


def get(conn: sqlite3.Connection, case_id: str) -> Case:
    row = conn.execute(_CASE + " WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        raise CaseNotFoundError(f"no case {case_id!r}")
    return _case(row)


def add_followup(
    conn: sqlite3.Connection, case_id: str, sealed: bytes, attachments: Sequence[bytes], sizes: Sequence[int],
    nonce: bytes,
) -> None:  # fmt: skip
    """The public's follow-up: a case waiting for them, or closed, is in progress again."""
    now = utc_now()
    with transaction(conn):
        spend(conn, nonce)
        get(conn, case_id)
        _add_message(conn, case_id, "followup", "public", sealed, attachments, sizes, now)
        conn.execute(
            "UPDATE contact_case SET updated = ?, closed = NULL, "
            "status = CASE WHEN status IN ('waiting', 'closed') THEN 'in_progress' ELSE status END WHERE id = ?",
            (now, case_id),
        )


def add_reply(conn: sqlite3.Connection, case_id: str, sealed: bytes, *, actor: str, status: str | None) -> None:
    """An officer's reply (sealed to the code's key and the inbox key), and optionally a new status."""
    now = utc_now()
    with transaction(conn):
        case = get(conn, case_id)
        _add_message(conn, case_id, "reply", actor, sealed, (), (), now)
        new = status or ("waiting" if case.status in ("new", "in_progress") else case.status)
        _set_status(conn, case, new, now)
        append(conn, actor, "case.replied", {"case": case_id, "status": new})


def _set_status(conn: sqlite3.Connection, case: Case, status: str, now: str) -> None:
    if status not in STATUSES:
        raise WrongStateError(f"{status!r} is not a case status; use one of {', '.join(STATUSES)}")
    closed = (case.closed or now) if status == "closed" else None
    conn.execute(
        "UPDATE contact_case SET status = ?, updated = ?, closed = ? WHERE id = ?", (status, now, closed, case.id)
    )


def set_status(conn: sqlite3.Connection, case_id: str, status: str, *, actor: str) -> Case:
    with transaction(conn):
        case = get(conn, case_id)
        _set_status(conn, case, status, utc_now())
        append(conn, actor, "case.status", {"case": case_id, "from": case.status, "to": status})
    return get(conn, case_id)


def assign(conn: sqlite3.Connection, case_id: str, account: str | None, *, actor: str) -> Case:
    with transaction(conn):
        case = get(conn, case_id)
        if account is not None:
            row = conn.execute(
                "SELECT 1 FROM staff_role WHERE account = ? AND role IN ('consular', 'admin')", (account,)
            ).fetchone()
            if row is None:
                raise WrongStateError(f"{account!r} is not a consular officer or admin")
        conn.execute("UPDATE contact_case SET assigned = ?, updated = ? WHERE id = ?", (account, utc_now(), case_id))
        append(conn, actor, "case.assigned", {"case": case_id, "from": case.assigned, "to": account})
    return get(conn, case_id)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    channel: str = ""
    type: str = ""
    lang: str = ""
    status: str = ""  # "" = every status but closed; "all" = every status
    limit: int = 200


def queue(conn: sqlite3.Connection, f: QueueFilter) -> list[Case]:
    """Cases by priority (emergency first), then oldest first."""
    where, args = [], []
    for column, value in (("channel", f.channel), ("type", f.type), ("lang", f.lang)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if f.status == "":
        where.append("status != 'closed'")
    elif f.status != "all":
        where.append("status = ?")
        args.append(f.status)
    sql = _CASE + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY priority, received, id LIMIT ?"
    return [_case(r) for r in conn.execute(sql, (*args, min(f.limit, 1000)))]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {str(s): int(n) for s, n in conn.execute("SELECT status, count(*) FROM contact_case GROUP BY status")}


def messages(conn: sqlite3.Connection, case_id: str) -> list[Message]:
    sizes: dict[int, list[tuple[int, int]]] = {}
    for att_id, message_id, size in conn.execute(
        "SELECT id, message_id, size FROM contact_attachment WHERE case_id = ? ORDER BY id", (case_id,)
    ):
        sizes.setdefault(int(message_id), []).append((int(att_id), int(size)))
    rows = conn.execute(
        "SELECT id, kind, author, sealed, created FROM contact_message WHERE case_id = ? ORDER BY id", (case_id,)
    ).fetchall()
    return [Message(int(i), str(k), str(a), bytes(s), str(c), tuple(sizes.get(int(i), ()))) for i, k, a, s, c in rows]


def attachment(conn: sqlite3.Connection, case_id: str, attachment_id: int) -> bytes:
    row = conn.execute(
        "SELECT sealed FROM contact_attachment WHERE case_id = ? AND id = ?", (case_id, attachment_id)
    ).fetchone()
    if row is None:
        raise CaseNotFoundError(f"case {case_id!r} has no attachment {attachment_id}")
    return bytes(row[0])


def message_label(case_id: str, kind: str, message_id: int | None = None) -> str:
    """The label a case's envelope is sealed under (keys/sealing.py): it cannot move to another case."""
    return f"case:{case_id}:{kind}" if message_id is None else f"case:{case_id}:{kind}:{message_id}"


def purge_closed(conn: sqlite3.Connection, retention_days: int, *, actor: str = "retention") -> list[str]:
    """Delete cases closed more than ``retention_days`` ago (their messages, attachments and
    notifications with them), each deletion in the audit log; the ids deleted. Deleted content is
    overwritten in the file (``secure_delete``), not only unlinked from the b-tree."""
    cutoff = (datetime.now(UTC) - timedelta(days=retention_days)).replace(microsecond=0).isoformat()
    cutoff = cutoff.replace("+00:00", "Z")
    conn.execute("PRAGMA secure_delete = ON")
    deleted: list[str] = []
    with transaction(conn):
        rows = conn.execute(
            "SELECT id, channel, received, closed FROM contact_case WHERE closed IS NOT NULL AND closed < ? "
            "AND status = 'closed' ORDER BY closed LIMIT 500",
            (cutoff,),
        ).fetchall()
        for case_id, channel, received, closed in rows:
            conn.execute("DELETE FROM contact_outbox WHERE case_id = ?", (case_id,))
            conn.execute("DELETE FROM contact_case WHERE id = ?", (case_id,))
            append(conn, actor, "case.deleted", {"case": case_id, "channel": channel, "received": received,
                                                 "closed": closed, "retention_days": retention_days})  # fmt: skip
            deleted.append(str(case_id))
        conn.execute("DELETE FROM contact_spent WHERE expires < ?", (_now(),))
    return deleted


__all__ = ["CHANNELS", "Case", "Message", "NewCase", "QueueFilter"]
