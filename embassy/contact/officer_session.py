"""An officer's unlocked keys for the life of one staff session, on whichever worker answers.

At the password step of a sign-in (embassy/staff/signin.py calls :meth:`InboxUnlock.after_password`)
the officer key is opened with the password just checked (one Argon2id on the password pool) and
the officer's inbox grants with it. Both are kept in the session's row of ``sessions.db`` (shared
by every worker, never replicated), sealed with AES-256-GCM under a key derived with HKDF from a
random 256-bit secret that only the officer's browser holds, in the cookie
``__Host-embassy-inbox`` (``HttpOnly; Secure; SameSite=Strict``); the session's public id is the
associated data, so a sealed value moved to another session does not open. A copy of the
database, or of its backups, opens nothing; the secret dies with the browser's session and the
sealed value with the session's row (sign-out, expiry, disabling, "sign out everywhere").

An account without an officer key gets one at its first sign-in as an officer; one whose key no
longer opens with its password (the administrator reset it, and the trigger of the contact schema
removed it) gets a new one, and needs a new grant from an officer or from the custodians.
"""

import json
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from embassy.contact import custody
from embassy.staff.passwords import PasswordPool
from embassy.staff.service import Conns, StaffDb
from embassy.staff.sessions import Session
from keys.encoding import b64d, b64e
from keys.inbox_keys import (
    OFFICER_KDF,
    InboxKeyPair,
    WrongOfficerPasswordError,
    new_officer_key,
    unlock_officer_key,
    wrap_officer_key,
)
from keys.kdf import KdfParams

INBOX_COOKIE = "__Host-embassy-inbox"
SECRET_CHARS = 43


@dataclass(frozen=True, slots=True)
class OfficerKeys:
    officer_private: bytes = field(repr=False)
    inbox: tuple[InboxKeyPair, ...] = ()

    def pair(self, key_id: str) -> InboxKeyPair | None:
        return next((p for p in self.inbox if p.id == key_id), None)

    def encode(self) -> bytes:
        return json.dumps({"officer": b64e(self.officer_private), "inbox": [b64e(p.private) for p in self.inbox]}).encode()

    @classmethod
    def decode(cls, data: bytes) -> "OfficerKeys":
        v = json.loads(data)
        return cls(b64d(v["officer"]), tuple(InboxKeyPair.from_private(b64d(p)) for p in v["inbox"]))


def _key(secret: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"virtual-embassy/session-inbox/v1").derive(secret.encode())


def seal_for_session(keys: OfficerKeys, secret: str, public_id: str) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_key(secret)).encrypt(nonce, keys.encode(), public_id.encode())


def open_for_session(sealed: bytes | None, secret: str, public_id: str) -> OfficerKeys | None:
    if not sealed or len(secret) != SECRET_CHARS:
        return None
    try:
        return OfficerKeys.decode(AESGCM(_key(secret)).decrypt(sealed[:12], sealed[12:], public_id.encode()))
    except (InvalidTag, ValueError, KeyError):
        return None


class InboxUnlock:
    """The sign-in's hook (embassy/staff/signin.py ``PasswordHook``) and the session's key store."""

    def __init__(self, db: StaffDb, pool: PasswordPool, kdf: KdfParams = OFFICER_KDF) -> None:
        self.db = db
        self.pool = pool
        self.kdf = kdf

    async def after_password(self, name: str, password: str) -> OfficerKeys | None:
        """The officer's keys, opened with the password just verified; None for a non-officer."""
        eligible, key = await self.db.run(lambda c: (custody.eligible(c.mission, name), custody.officer_key(c.mission, name)))
        if not eligible:
            return None
        private: bytes | None = None
        if key is not None:
            try:
                private = await self.pool.run(unlock_officer_key, key, password)
            except WrongOfficerPasswordError:
                private = None
        if private is None:
            new_key, made = await self.pool.run(new_officer_key, password, self.kdf)
            await self.db.run(lambda c: custody.set_officer_key(c.mission, name, new_key, actor=name))
            private = made
        opened: bytes = private
        pairs = await self.db.run(lambda c: custody.open_grants(c.mission, name, opened))
        return OfficerKeys(opened, tuple(pairs))

    def attach(self, c: Conns, session: Session, unlocked: object) -> str:
        """Keep ``unlocked`` in the session's row (on the staff database's thread); the cookie secret."""
        assert isinstance(unlocked, OfficerKeys)
        secret = secrets.token_urlsafe(32)
        sealed = seal_for_session(unlocked, secret, session.public_id)
        c.sessions.conn.execute("UPDATE session SET inbox = ? WHERE public_id = ?", (sealed, session.public_id))
        return secret

    async def keys_of(self, session: Session, secret: str) -> OfficerKeys | None:
        if len(secret) != SECRET_CHARS:
            return None
        row = await self.db.run(
            lambda c: c.sessions.conn.execute("SELECT inbox FROM session WHERE public_id = ?", (session.public_id,)).fetchone()
        )
        return open_for_session(bytes(row[0]) if row and row[0] is not None else None, secret, session.public_id)

    async def store(self, session: Session, secret: str, keys: OfficerKeys) -> None:
        sealed = seal_for_session(keys, secret, session.public_id)
        await self.db.run(
            lambda c: c.sessions.conn.execute("UPDATE session SET inbox = ? WHERE public_id = ?", (sealed, session.public_id))
        )

    async def rewrap(self, name: str, keys: OfficerKeys, new_password: str) -> None:
        """After a password change: the same officer key, wrapped under the new password."""
        wrapped = await self.pool.run(wrap_officer_key, keys.officer_private, new_password, self.kdf)
        await self.db.run(lambda c: custody.set_officer_key(c.mission, name, wrapped, actor=name))
