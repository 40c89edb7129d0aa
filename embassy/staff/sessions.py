"""Server-side staff sessions in ``<data_dir>/sessions.db``, shared by every worker.

The cookie holds a random 256-bit id; only its SHA-256 is stored, so a copy of the database
opens no session. A session is in one of four stages: ``factor`` (password given, second factor
due), ``password`` (a one-time password was given: a new one is due), ``enrol`` (no second
factor yet: one is due) and ``full`` (signed in). Each move to another stage gives the session
a new id (:meth:`SessionStore.advance`), as does every privilege change.

Lifetimes (docs/web.md): a signed-in session ends after 30 minutes without a request and 12
hours after sign-in in any case; a session in any other stage 10 minutes after it began. One
account holds at most :data:`MAX_PER_ACCOUNT` sessions: a new one ends the least recently used.
"""

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 12 * 3600
PENDING_SECONDS = 10 * 60
TOUCH_SECONDS = 60  # last use is written at most this often, not on every request
MAX_PER_ACCOUNT = 10
CHALLENGE_SECONDS = 5 * 60
STAGES = ("factor", "password", "enrol", "full")


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: bytes
    public_id: str
    account: str
    stage: str
    csrf: str
    created: float
    last_seen: float
    expires: float
    authenticated: float
    address: str
    device: str
    factor_failures: int

    @property
    def full(self) -> bool:
        return self.stage == "full"


def id_hash(token: str) -> bytes:
    return hashlib.sha256(b"virtual-embassy/session/v1\n" + token.encode()).digest()


_COLUMNS = (
    "id_hash, public_id, account, stage, csrf, created, last_seen, expires, authenticated, address, device, "
    "factor_failures"
)


def _session(row: tuple[Any, ...]) -> Session:
    h, pid, account, stage, csrf, created, seen, expires, auth, address, device, failures = row
    return Session(
        bytes(h), str(pid), str(account), str(stage), str(csrf), float(created), float(seen), float(expires),
        float(auth), str(address), str(device), int(failures),
    )  # fmt: skip


def device_label(user_agent: str) -> str:
    """A short, recognisable name for the browser and system, for the list of sessions."""
    ua = user_agent[:512]
    browser = next((b for b in ("Edg", "Firefox", "Chrome", "Safari") if b in ua), "a browser")
    browser = {"Edg": "Edge"}.get(browser, browser)
    system = next(
        (s for s, key in (("Android", "Android"), ("iOS", "iPhone"), ("Windows", "Windows"), ("macOS", "Mac OS"),
                          ("Linux", "Linux")) if key in ua),
        "",
    )  # fmt: skip
    if "HeadlessChrome" in ua:
        browser = "Chrome (headless)"
    return f"{browser} on {system}" if system else browser


class SessionStore:
    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.clock = clock

    # -- lifecycle ---------------------------------------------------------------------------------

    def create(self, account: str, stage: str, address: str, user_agent: str) -> tuple[str, Session]:
        assert stage in STAGES
        now = self.clock()
        token = secrets.token_urlsafe(32)
        lifetime = ABSOLUTE_SECONDS if stage == "full" else PENDING_SECONDS
        session = Session(
            id_hash(token), secrets.token_hex(8), account, stage, secrets.token_urlsafe(32), now, now,
            now + lifetime, now, address[:64], device_label(user_agent), 0,
        )  # fmt: skip
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._expire(now)
            self.conn.execute(
                f"INSERT INTO session ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (session.id_hash, session.public_id, account, stage, session.csrf, now, now, session.expires, now,
                 session.address, session.device, 0),
            )  # fmt: skip
            self.conn.execute(
                "DELETE FROM session WHERE id_hash IN (SELECT id_hash FROM session WHERE account = ? "
                "ORDER BY last_seen DESC LIMIT -1 OFFSET ?)",
                (account, MAX_PER_ACCOUNT),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return token, session

    def load(self, token: str) -> Session | None:
        """The live session this cookie value opens (its last use noted), or None."""
        if not token or len(token) > 64:
            return None
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM session WHERE id_hash = ?", (id_hash(token),)  # noqa: S608
        ).fetchone()
        if row is None:
            return None
        session = _session(row)
        now = self.clock()
        if now >= session.expires or (session.full and now - session.last_seen >= IDLE_SECONDS):
            self.end(session)
            return None
        if now - session.last_seen >= TOUCH_SECONDS:
            self.conn.execute("UPDATE session SET last_seen = ? WHERE id_hash = ?", (now, session.id_hash))
            session = replace(session, last_seen=now)
        return session

    def advance(self, session: Session, stage: str, *, reauthenticated: bool = False) -> tuple[str, Session]:
        """Move to ``stage`` under a new id (the old id stops working at once). Reaching ``full``
        from another stage starts the 12-hour lifetime; ``reauthenticated`` notes a fresh factor."""
        assert stage in STAGES
        now = self.clock()
        token = secrets.token_urlsafe(32)
        expires = session.expires
        if stage == "full" and not session.full:
            expires = now + ABSOLUTE_SECONDS
        elif stage != "full":
            expires = min(session.expires, now + PENDING_SECONDS)
        new = replace(
            session,
            id_hash=id_hash(token),
            stage=stage,
            csrf=secrets.token_urlsafe(32),
            last_seen=now,
            expires=expires,
            authenticated=now if reauthenticated or (stage == "full" and not session.full) else session.authenticated,
            factor_failures=0,
        )
        cur = self.conn.execute(
            "UPDATE session SET id_hash = ?, stage = ?, csrf = ?, last_seen = ?, expires = ?, authenticated = ?, "
            "factor_failures = 0, challenge = NULL, challenge_expires = NULL WHERE id_hash = ?",
            (new.id_hash, stage, new.csrf, now, expires, new.authenticated, session.id_hash),
        )
        if cur.rowcount != 1:  # ended meanwhile (signed out elsewhere, account disabled)
            raise LookupError("the session ended")
        return token, new

    def end(self, session: Session) -> None:
        self.conn.execute("DELETE FROM session WHERE id_hash = ?", (session.id_hash,))

    def end_public(self, account: str, public_id: str) -> bool:
        cur = self.conn.execute("DELETE FROM session WHERE account = ? AND public_id = ?", (account, public_id))
        return cur.rowcount == 1

    def end_account(self, account: str, keep: Session | None = None) -> int:
        """End every session of ``account`` (but ``keep``); the number ended."""
        if keep is None:
            return self.conn.execute("DELETE FROM session WHERE account = ?", (account,)).rowcount
        return self.conn.execute(
            "DELETE FROM session WHERE account = ? AND id_hash != ?", (account, keep.id_hash)
        ).rowcount

    def end_all(self, keep: Session | None = None) -> int:
        if keep is None:
            return self.conn.execute("DELETE FROM session").rowcount
        return self.conn.execute("DELETE FROM session WHERE id_hash != ?", (keep.id_hash,)).rowcount

    def list_for(self, account: str) -> list[Session]:
        self._expire(self.clock())
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM session WHERE account = ? AND stage = 'full' ORDER BY last_seen DESC",  # noqa: S608
            (account,),
        ).fetchall()
        return [_session(r) for r in rows]

    def count_active(self) -> dict[str, int]:
        self._expire(self.clock())
        rows = self.conn.execute("SELECT account, count(*) FROM session WHERE stage = 'full' GROUP BY account")
        return {str(a): int(n) for a, n in rows}

    def _expire(self, now: float) -> None:
        self.conn.execute(
            "DELETE FROM session WHERE expires <= ? OR (stage = 'full' AND last_seen <= ?)", (now, now - IDLE_SECONDS)
        )

    # -- sign-in state -------------------------------------------------------------------------------

    def set_challenge(self, session: Session, challenge: bytes) -> None:
        self.conn.execute(
            "UPDATE session SET challenge = ?, challenge_expires = ? WHERE id_hash = ?",
            (challenge, self.clock() + CHALLENGE_SECONDS, session.id_hash),
        )

    def take_challenge(self, session: Session) -> bytes | None:
        """The pending WebAuthn challenge, once: it is cleared as it is read (atomically, so two
        workers cannot both take it)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute(
                "SELECT challenge, challenge_expires FROM session WHERE id_hash = ?", (session.id_hash,)
            ).fetchone()
            self.conn.execute(
                "UPDATE session SET challenge = NULL, challenge_expires = NULL WHERE id_hash = ?", (session.id_hash,)
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        if row is None or row[0] is None or float(row[1]) <= self.clock():
            return None
        return bytes(row[0])

    def count_factor_failure(self, session: Session) -> int:
        row = self.conn.execute(
            "UPDATE session SET factor_failures = factor_failures + 1 WHERE id_hash = ? RETURNING factor_failures",
            (session.id_hash,),
        ).fetchone()
        return int(row[0]) if row else 0
