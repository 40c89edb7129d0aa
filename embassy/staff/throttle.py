"""Sign-in throttling in ``<data_dir>/sessions.db``, so every worker counts the same failures.

Failures are counted per name tried (whether or not an account has it, so the answer never tells
which names exist) and per client address, under salted hashes of both. After ``free`` failures
each further attempt must wait, twice as long each time up to ``max_delay``; at ``lock_after``
failures the key is locked for ``lock_seconds`` (an admin can lift an account's lock). A success
clears the name's count; counts are forgotten ``forget_after`` seconds after the last failure.
"""

import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Policy:
    free: int
    base_delay: float
    max_delay: float
    lock_after: int
    lock_seconds: float
    forget_after: float

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.base_delay * 2 ** (failures - self.free), self.max_delay))


ACCOUNT = Policy(free=3, base_delay=2, max_delay=300, lock_after=10, lock_seconds=30 * 60, forget_after=24 * 3600)
ADDRESS = Policy(free=10, base_delay=1, max_delay=60, lock_after=50, lock_seconds=15 * 60, forget_after=3600)


@dataclass(frozen=True, slots=True)
class Key:
    key: bytes
    policy: Policy


class Throttle:
    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.clock = clock
        (self._salt,) = conn.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()

    def _hash(self, kind: str, value: str) -> bytes:
        return hashlib.sha256(bytes(self._salt) + kind.encode() + b"\0" + value.encode("utf-8", "replace")).digest()

    def account_key(self, name: str) -> Key:
        return Key(self._hash("account", name.strip().lower()[:200]), ACCOUNT)

    def address_key(self, address: str) -> Key:
        return Key(self._hash("address", address), ADDRESS)

    def wait(self, keys: Sequence[Key]) -> float:
        """Seconds until the next attempt with these keys is allowed (0: now)."""
        now = self.clock()
        longest = 0.0
        for k in keys:
            row = self.conn.execute(
                "SELECT failures, last_failure, locked_until FROM throttle WHERE key = ?", (k.key,)
            ).fetchone()
            if row is None:
                continue
            failures, last, locked_until = int(row[0]), float(row[1]), float(row[2])
            if locked_until > now:
                longest = max(longest, locked_until - now)
            elif now - last < k.policy.forget_after:
                longest = max(longest, last + k.policy.delay(failures) - now)
        return max(0.0, longest)

    def locked(self, key: Key) -> float:
        """Seconds the key stays locked (0: not locked)."""
        row = self.conn.execute("SELECT locked_until FROM throttle WHERE key = ?", (key.key,)).fetchone()
        return max(0.0, float(row[0]) - self.clock()) if row else 0.0

    def fail(self, keys: Sequence[Key]) -> None:
        now = self.clock()
        for k in keys:
            p = k.policy
            self.conn.execute(
                "INSERT INTO throttle (key, failures, last_failure) VALUES (?, 1, ?) ON CONFLICT (key) DO UPDATE SET "
                "failures = CASE WHEN ? - last_failure >= ? THEN 1 "
                "                WHEN locked_until > 0 AND locked_until <= ? THEN ? + 1 ELSE failures + 1 END, "
                "locked_until = CASE WHEN locked_until > 0 AND locked_until <= ? THEN 0 ELSE locked_until END, "
                "last_failure = ?",
                (k.key, now, now, p.forget_after, now, p.free, now, now),
            )
            self.conn.execute(
                "UPDATE throttle SET locked_until = ? WHERE key = ? AND failures >= ? AND locked_until = 0",
                (now + p.lock_seconds, k.key, p.lock_after),
            )

    def clear(self, key: Key) -> bool:
        return self.conn.execute("DELETE FROM throttle WHERE key = ?", (key.key,)).rowcount == 1
