"""The duty officer's e-mail on every emergency case: an outbox in the mission database, sent by
the supervising process of `embassy serve` (it holds the SMTP password; the workers do not).

A worker stores an emergency case and its outbox row in one transaction (cases.create), so the
case is never lost to a mail problem and no notification is lost to a crash. The supervisor sends
what is due with aiosmtplib; a failure is written to the row (the staff inbox shows it) and
retried after 30 s, doubling up to an hour, until it goes through. The e-mail says only that an
emergency case arrived, and when: never its content, channel details or id.
"""

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from embassy.contact.config import SmtpConfig

FIRST_RETRY = 30.0
MAX_RETRY = 3600.0
SEND_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Due:
    id: int
    created: str
    attempts: int


def due(conn: sqlite3.Connection, now: float | None = None, limit: int = 50) -> list[Due]:
    rows = conn.execute(
        "SELECT id, created, attempts FROM contact_outbox WHERE sent IS NULL AND next_attempt <= ? ORDER BY id LIMIT ?",
        (time.time() if now is None else now, limit),
    ).fetchall()
    return [Due(int(i), str(c), int(a)) for i, c, a in rows]


def mark_sent(conn: sqlite3.Connection, row: Due) -> None:
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    conn.execute("UPDATE contact_outbox SET sent = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                 (now, row.id))  # fmt: skip


def mark_failed(conn: sqlite3.Connection, row: Due, error: str) -> float:
    """Note the failure and when to try again (back-off); the delay."""
    delay = float(min(MAX_RETRY, FIRST_RETRY * 2 ** min(row.attempts, 20)))
    conn.execute(
        "UPDATE contact_outbox SET attempts = attempts + 1, last_error = ?, next_attempt = ? WHERE id = ?",
        (error[:300], time.time() + delay, row.id),
    )
    return delay


def outbox_problems(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """Unsent notifications that failed at least once, for the staff inbox; None when all is well."""
    row = conn.execute(
        "SELECT count(*), min(created), max(attempts) FROM contact_outbox WHERE sent IS NULL AND attempts > 0"
    ).fetchone()
    if not row or not row[0]:
        return None
    last = conn.execute(
        "SELECT last_error FROM contact_outbox WHERE sent IS NULL AND attempts > 0 ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return {"count": int(row[0]), "oldest": str(row[1]), "attempts": int(row[2]), "error": str(last[0] or "")}


def duty_message(smtp: SmtpConfig, to: str, mission: str, inbox_url: str, received: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = to
    msg["Subject"] = f"{mission}: an emergency case arrived"
    msg.set_content(
        f"An emergency case arrived in the consular inbox at {received} (UTC).\n\n"
        f"Open the inbox to read it: {inbox_url}\n\n"
        "This message says nothing of the case's content, on purpose.\n"
    )
    return msg


async def send(smtp: SmtpConfig, password: str | None, message: EmailMessage) -> None:
    """Send one message; raises aiosmtplib.SMTPException or OSError on failure."""
    await aiosmtplib.send(
        message,
        hostname=smtp.host,
        port=smtp.port,
        start_tls=smtp.starttls,
        username=smtp.username or None,
        password=password if smtp.username else None,
        timeout=SEND_TIMEOUT,
    )
