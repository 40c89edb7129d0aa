"""The contact channels for one serving process: sealing and storing what arrives, finding cases.

Work is kept off the event loop: the mission database on one thread of its own, key derivation
and sealing on a small bounded pool (:class:`CryptoPool`: two threads, a few waiting; when full, a
request fails at once with :class:`BusyError`, answered 503, so a flood costs the site at most
those threads). A submission is sealed before anything is written: the database only ever sees
envelopes (keys/sealing.py) and the tracking code's Argon2id lookup value and public key.
"""

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from nacl.public import PrivateKey

from embassy.contact import cases, codes, custody
from embassy.contact.attachments import Attachment
from embassy.contact.errors import BusyError, NotOpenError
from embassy.contact.model import Submission
from embassy.mission_db import MISSION_DB, connect
from keys.case_keys import CaseKeys, CodeKdf, derive_case_keys
from keys.sealing import SealError, open_envelope, seal

T = TypeVar("T")
INBOX_RECHECK_SECONDS = 10.0


def _lower_priority() -> None:
    """Run this pool thread at nice 10 (Linux schedules threads one by one): when the machine is
    busy, the event loop that serves the public pages goes first, and sealing waits."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class CryptoPool:
    """CPU-heavy work (Argon2id, sealing, proof-of-work checks) on ``threads`` threads at a lower
    priority, with at most ``queue`` more waiting."""

    def __init__(self, threads: int = 2, queue: int = 64) -> None:
        self.capacity = threads + queue
        self.in_use = 0
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="contact-crypto", initializer=_lower_priority)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self.in_use >= self.capacity:
            raise BusyError("too many messages are being sealed; try again in a few seconds")
        self.in_use += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self.in_use -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class PublicReply:
    created: str
    text: str


@dataclass(frozen=True, slots=True)
class PublicCase:
    """What the holder of a tracking code sees: status, dates, the mission's replies; of their own
    messages only when they were sent (those are sealed for the mission alone)."""

    case: cases.Case
    replies: tuple[PublicReply, ...]
    sent: tuple[str, ...]  # when the inquiry and each follow-up arrived
    code: str  # normalised, to carry in the follow-up form


class ContactService:
    def __init__(self, data_dir: Path, kdf: CodeKdf, pool: CryptoPool | None = None, *, notify: bool = False) -> None:
        self.path = data_dir / MISSION_DB
        self.kdf = kdf
        self.pool = pool or CryptoPool()
        self.notify = notify
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="contact-db")
        self._conn: sqlite3.Connection | None = None
        self._salt = b""
        self._inbox: custody.InboxKey | None = None
        self._inbox_checked = 0.0

    async def open(self) -> None:
        def opening() -> None:
            self._conn = connect(self.path, check_same_thread=False)
            self._salt = bytes(self._conn.execute("SELECT value FROM contact_meta WHERE key = 'code_salt'").fetchone()[0])

        await asyncio.get_running_loop().run_in_executor(self._executor, opening)

    async def close(self) -> None:
        conn = self._conn
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
        self.pool.close()

    async def db(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        assert conn is not None, "ContactService.open() was not awaited"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, conn)

    async def inbox(self) -> custody.InboxKey:
        """The current inbox key; :class:`NotOpenError` until `embassy inbox init` made one."""
        now = time.monotonic()
        if (self._inbox is None and now - self._inbox_checked >= INBOX_RECHECK_SECONDS) or not self._inbox_checked:
            self._inbox = await self.db(custody.current_key)
            self._inbox_checked = now
        if self._inbox is None:
            raise NotOpenError("the inbox has no key yet")
        return self._inbox

    # -- what the public does ----------------------------------------------------------------------------

    async def submit(
        self, s: Submission, attachments: Sequence[Attachment], lang: str, nonce: bytes, *, review: bool
    ) -> str:
        """Seal and store a new case, spending the form's ``nonce``; its tracking code (normalised)."""
        inbox = await self.inbox()
        code = codes.new_code()
        case_id = cases.new_case_id()

        def sealed() -> tuple[CaseKeys, bytes, list[bytes]]:
            keys = derive_case_keys(code, self._salt, self.kdf)
            message = seal(s.sealed_json(), [inbox.public], cases.message_label(case_id, "inquiry"))
            label = cases.message_label(case_id, "attachment")
            return keys, message, [seal(a.sealed_bytes(), [inbox.public], label) for a in attachments]

        keys, message, files = await self.pool.run(sealed)
        new = cases.NewCase(
            case_id, keys.lookup, keys.public, self.kdf.to_json(), inbox.id, s.channel, s.type, lang, s.priority,
            review, message, tuple(files), tuple(len(a.data) for a in attachments),
        )  # fmt: skip
        await self.db(lambda c: cases.create(c, new, nonce, notify=self.notify))
        return code

    async def find(self, typed: str) -> tuple[cases.Case, CaseKeys] | None:
        """The case of a typed code, or None. Raises CodeFormatError for a mistyped code. Every
        well-formed code costs the same derivations, found or not."""
        code = codes.normalise(typed)
        kdfs = await self.db(cases.code_kdfs) or [self.kdf.to_json()]

        def derive() -> list[CaseKeys]:
            return [derive_case_keys(code, self._salt, CodeKdf.from_json(k)) for k in kdfs]

        derived = await self.pool.run(derive)
        case = await self.db(lambda c: cases.find_by_lookup(c, [k.lookup for k in derived]))
        if case is None:
            return None
        return case, next(k for k in derived if k.public == case.code_public)

    async def public_view(self, typed: str) -> PublicCase | None:
        found = await self.find(typed)
        if found is None:
            return None
        case, keys = found
        messages = await self.db(lambda c: cases.messages(c, case.id))

        def opened() -> list[PublicReply]:
            private = PrivateKey(keys.private)
            out = []
            for m in messages:
                if m.kind == "reply":
                    try:
                        text = open_envelope(m.sealed, private, cases.message_label(case.id, "reply")).decode()
                    except SealError:
                        continue  # altered in the database: not shown rather than shown wrong
                    out.append(PublicReply(m.created, text))
            return out

        replies = await self.pool.run(opened)
        sent = tuple(m.created for m in messages if m.kind != "reply")
        return PublicCase(case, tuple(replies), sent, codes.normalise(typed))

    async def follow_up(self, typed: str, text: str, attachments: Sequence[Attachment], nonce: bytes) -> cases.Case | None:
        found = await self.find(typed)
        if found is None:
            return None
        case = found[0]
        public = await self.db(lambda c: inbox_public(c, case.inbox_key))

        def sealed() -> tuple[bytes, list[bytes]]:
            message = seal(text.encode(), [public], cases.message_label(case.id, "followup"))
            label = cases.message_label(case.id, "attachment")
            return message, [seal(a.sealed_bytes(), [public], label) for a in attachments]

        message, files = await self.pool.run(sealed)
        await self.db(lambda c: cases.add_followup(c, case.id, message, files, [len(a.data) for a in attachments], nonce))
        return case


def inbox_public(conn: sqlite3.Connection, key_id: str) -> bytes:
    row = conn.execute("SELECT public FROM inbox_key WHERE id = ?", (key_id,)).fetchone()
    if row is None:
        raise NotOpenError(f"inbox key {key_id} is missing")
    return bytes(row[0])
