"""Lock objects in each store, so that prune never deletes what a running backup is about to use.

Two kinds. ``backup`` locks are shared (backups may run side by side); a ``prune`` lock is
exclusive (no backup and no other prune in that store meanwhile). A lock is the object

    locks/<kind>-<expires, 20261127T082146.123456Z>-<16 hex token>

written without retention; its name says until when it holds, so one listing shows who holds what.
Its body (``replication/lock_body.py``) proves the mission wrote it and names who holds it.

Taking locks: write ours in every store, then list ``locks/`` in every store. If any store shows a
live lock that conflicts with ours, remove ours from every store, wait a random moment and try
again, up to a deadline. Listings are read-after-write consistent (S3 since 2020, SeaweedFS, a
folder), so when a backup and a prune race for a store, whichever lists last sees the other's lock:
they cannot both go ahead. Taking all stores or none, then retrying, means a backup and a prune
never each hold half of the stores and wait for each other. At the deadline, a party keeps the
stores it could take and reports the others as busy (:class:`StoreBusyError`).

Expiry: a holder rewrites its lock with a later expiry every ``ttl / 3`` (new object first, then
the old one removed). A crashed holder's lock expires after at most ``ttl`` (10 minutes at most);
one whose body names this machine's host name and a process id that no longer exists here (a
process killed with ``kill -9``) holds nothing at once (:func:`holder_gone`). A holder that comes to
refresh its lock and finds it already expired (a stalled process, a store it could not reach) has
lost it for good: :meth:`StoreLock.ensure_held` then raises :class:`LockLostError`, and nothing may
be written or deleted on the strength of that lock. Expiry times are compared with the reader's
clock, so the machines' clocks must agree to well within ``ttl`` (NTP does).

Authentication: a store abroad may plant lock objects of its own, so a lock counts only when its
body is the mission's (``replication/lock_body.py``: MACed under a key derived from the master
key, naming the same kind, expiry and token as the object's name, and the store it was written to)
and its expiry is within the lock lifetime. Any other lock object is reported (a warning naming
the store and the object, and :attr:`LockSet.ignored`) and holds nothing. Only live locks that
would conflict are read, at most :data:`MAX_LOCK_BYTES` each, once per acquisition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from replication.errors import LockLostError, ObjectLockedError, ObjectNotFoundError, StoreBusyError, StoreError
from replication.layout import LOCKS_PREFIX, MAX_LOCK_BYTES
from replication.lock_body import (
    KEY_TIME,
    MAX_LIFETIME,
    Holder,
    LockAuth,
    LockKind,
    check_body,
    encode_body,
    impossible_expiry,
    key_time,
    oversized,
)
from replication.stores import Store

__all__ = ["DEFAULT_TTL", "MAX_LOCK_BYTES", "IgnoredLock", "LockAuth", "LockSet", "acquire", "list_locks", "lock_key"]

log = logging.getLogger("replication.locks")
DEFAULT_TTL = MAX_LIFETIME
_KEY_RE = re.compile(r"^locks/(backup|prune)-(\d{8}T\d{6}\.\d{6}Z)-([0-9a-f]{16})$")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class LockObject:
    key: str
    kind: LockKind
    expires: datetime
    token: str
    size: int = 0  # as the listing says

    def live(self, now: datetime | None = None) -> bool:
        return self.expires > (now or _now())


@dataclass(frozen=True, slots=True)
class IgnoredLock:
    """A lock object that holds nothing: not the mission's, or not possible. A finding against ``store``."""

    store: str
    key: str
    reason: str


def lock_key(kind: LockKind, expires: datetime, token: str) -> str:
    return f"{LOCKS_PREFIX}{kind}-{key_time(expires)}-{token}"


def parse_lock_key(key: str, size: int = 0) -> LockObject | None:
    m = _KEY_RE.match(key)
    if m is None:
        return None
    kind: LockKind = "backup" if m.group(1) == "backup" else "prune"
    return LockObject(key, kind, datetime.strptime(m.group(2), KEY_TIME).replace(tzinfo=UTC), m.group(3), size)


async def list_locks(store: Store) -> list[LockObject]:
    """Every lock object in the store by its name, live or expired, real or not."""
    found = (parse_lock_key(info.key, info.size) for info in await store.list_objects(LOCKS_PREFIX))
    return [lock for lock in found if lock is not None]


def conflicts(kind: LockKind, other: LockKind) -> bool:
    return kind == "prune" or other == "prune"


def holder_gone(holder: Holder) -> bool:
    """The lock's holder was a process of this machine that no longer runs (killed, crashed): its
    lock holds nothing, so the next command need not wait for it to expire. Only for the mission's
    own locks (checked bodies), only the same host name, and only a process id that does not exist
    here (one that does, even reused by another process, still counts as the holder: wait)."""
    if holder.host != socket.gethostname() or holder.pid <= 0 or holder.pid == os.getpid():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def describe(lock: LockObject, holder: Holder) -> str:
    """Who holds ``lock``, for the message of a command that waited for it."""
    return f"a {lock.kind} by {holder.describe()} holds a lock until {lock.expires:%Y-%m-%d %H:%M:%S} UTC"


class LockReader:
    """Decides which lock objects in a store are real, reading each candidate once (per acquisition).

    The name alone rules out an impossible expiry or an oversized body; otherwise the body is read
    (at most :data:`MAX_LOCK_BYTES`) and checked. A lock object gone before it could be read was
    released meanwhile and holds nothing. A failure to read raises :class:`StoreError`, as a
    failed listing does."""

    def __init__(self, auth: LockAuth) -> None:
        self.auth = auth
        self.holders: dict[tuple[str, str], Holder | None] = {}
        self.ignored: list[IgnoredLock] = []

    async def holder(self, store: Store, lock: LockObject, now: datetime) -> Holder | None:
        seen = (store.name, lock.key)
        if seen not in self.holders:
            verdict = await self._check(store, lock, now)
            if isinstance(verdict, str):
                self._ignore(store.name, lock.key, verdict)
                self.holders[seen] = None
            else:
                self.holders[seen] = verdict
        return self.holders[seen]

    async def _check(self, store: Store, lock: LockObject, now: datetime) -> Holder | str | None:
        reason = impossible_expiry(lock.expires, now) or oversized(lock.size)
        if reason is not None:
            return reason
        try:
            data = await store.get_range(lock.key, 0, MAX_LOCK_BYTES + 1)
        except ObjectNotFoundError:
            return None
        if len(data) > MAX_LOCK_BYTES:
            return f"its body is more than a lock's {MAX_LOCK_BYTES} bytes"
        return check_body(data, self.auth, lock.kind, lock.expires, lock.token, store.name)

    def _ignore(self, store: str, key: str, reason: str) -> None:
        self.ignored.append(IgnoredLock(store, key, reason))
        log.warning("store %s: ignored lock %s: %s", store, key, reason)


class StoreLock:
    """One lock this process holds in one store."""

    def __init__(self, store: Store, kind: LockKind, ttl: timedelta, auth: LockAuth, holder: Holder) -> None:
        self.store = store
        self.kind = kind
        self.ttl = ttl
        self.token = secrets.token_hex(8)
        self._auth = auth
        self._holder = holder
        self.key: str | None = None
        self._version: str | None = None
        self.expires = _now()
        self.lost: str | None = None

    async def write(self) -> None:
        """Write the lock with a fresh expiry, then remove the object it replaces."""
        expires = _now() + self.ttl
        key = lock_key(self.kind, expires, self.token)
        body = encode_body(self._auth, self.kind, expires, self.token, self.store.name, self._holder)
        version = await self.store.put(key, body)
        old, old_version = self.key, self._version
        self.key, self._version, self.expires = key, version, expires
        if old is not None and (old, old_version) != (key, version):
            await _remove(self.store, old, old_version)

    async def refresh(self) -> None:
        if self.lost:
            return
        if _now() >= self.expires:
            self.lost = f"lock {self.key} expired at {self.expires:%H:%M:%S} UTC before it could be refreshed"
            return
        await self.write()

    def ensure_held(self) -> None:
        """Raise :class:`LockLostError` unless the lock holds for at least another ``ttl / 3``."""
        if self.lost:
            raise LockLostError(self.store.name, self.lost)
        if _now() >= self.expires - self.ttl / 3:
            raise LockLostError(
                self.store.name, f"lock {self.key} was not refreshed in time (expires {self.expires:%H:%M:%S} UTC)"
            )

    async def release(self) -> None:
        if self.key is not None:
            key, version = self.key, self._version
            self.key = self._version = None
            await _remove(self.store, key, version)


async def _remove(store: Store, key: str, version: str | None) -> None:
    """Remove a lock object; failing to is harmless (it expires), so errors are swallowed."""
    with contextlib.suppress(StoreError):
        await store.delete(key, version)


class LockSet:
    """The locks this process holds, one per store, refreshed in the background until released."""

    def __init__(self, ttl: timedelta = DEFAULT_TTL) -> None:
        if not timedelta(0) < ttl <= MAX_LIFETIME:
            raise ValueError(f"a lock lives at most {MAX_LIFETIME}, not {ttl}")
        self.ttl = ttl
        self.locks: dict[str, StoreLock] = {}
        self.ignored: list[IgnoredLock] = []  # lock objects seen while acquiring that held nothing
        self._task: asyncio.Task[None] | None = None

    def ensure_held(self, store: str) -> None:
        lock = self.locks.get(store)
        if lock is None:
            raise LockLostError(store, "no lock held in this store")
        lock.ensure_held()

    def start(self) -> None:
        if self._task is None and self.locks:
            self._task = asyncio.create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            for lock in list(self.locks.values()):
                with contextlib.suppress(StoreError):  # retried next time; ensure_held sees the lapse
                    await lock.refresh()

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        locks, self.locks = list(self.locks.values()), {}
        await asyncio.gather(*(lock.release() for lock in locks))


async def acquire(
    stores: Iterable[Store], kind: LockKind, wait: timedelta, ttl: timedelta = DEFAULT_TTL, *, auth: LockAuth
) -> tuple[LockSet, dict[str, StoreError]]:
    """Lock every store that can be locked; returns the held locks and, per other store, why not.

    A store that fails (down, refused) is reported at once; a store where a conflicting lock is
    live is retried until ``wait`` has passed, then reported busy. Lock objects that are not the
    mission's are ignored and listed in the result's ``ignored``. See the module docstring.
    """
    held = LockSet(ttl)
    failed: dict[str, StoreError] = {}
    holder = Holder(socket.gethostname(), os.getpid(), _now().isoformat())
    reader = LockReader(auth)
    pending = list(stores)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait.total_seconds()
    got: list[StoreLock] = []

    async def attempt(store: Store) -> tuple[StoreLock, list[tuple[LockObject, Holder]]]:
        lock = StoreLock(store, kind, ttl, auth, holder)
        await lock.write()
        try:
            now = _now()
            others = [o for o in await list_locks(store) if o.key != lock.key and o.live(now)]
            real = []
            for other in others:
                if conflicts(kind, other.kind) and (who := await reader.holder(store, other, now)) is not None:
                    if holder_gone(who):
                        log.info("store %s: lock %s ignored: its holder %s is gone", store.name, other.key, who.describe())
                        continue
                    real.append((other, who))
        except BaseException:
            await lock.release()
            raise
        return lock, real

    while pending:
        outcomes = await asyncio.gather(*(attempt(s) for s in pending), return_exceptions=True)
        got = []
        busy: dict[str, tuple[LockObject, Holder]] = {}
        for store, outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, StoreError):
                failed[store.name] = outcome
            elif isinstance(outcome, BaseException):
                await asyncio.gather(*(lock.release() for lock in got))
                raise outcome
            else:
                lock, conflicting = outcome
                got.append(lock)
                if conflicting:
                    busy[store.name] = conflicting[0]
        pending = [s for s in pending if s.name not in failed]
        if not busy:
            break
        if loop.time() >= deadline:
            for lock in got:
                if lock.store.name in busy:
                    await lock.release()
            got = [lock for lock in got if lock.store.name not in busy]
            for name, (other, who) in busy.items():
                failed[name] = StoreBusyError(
                    name, f"busy: {describe(other, who)}; waited {wait.total_seconds():.0f} s"
                )
            break
        await asyncio.gather(*(lock.release() for lock in got))
        got = []
        # A random pause, so that two parties retrying in step fall out of step.
        pause = min(random.uniform(0.3, 1.5), max(0.0, deadline - loop.time()))
        await asyncio.sleep(pause)
    for lock in got:
        held.locks[lock.store.name] = lock
    held.ignored = reader.ignored
    held.start()
    return held, failed


async def remove_expired(store: Store, older_than: timedelta = timedelta(0)) -> int:
    """Delete lock objects that expired more than ``older_than`` ago (crashed holders); returns how many."""
    now = _now()
    stale = [lock for lock in await list_locks(store) if lock.expires + older_than < now]
    versioned = await store.versioned()
    removed = 0
    for lock in stale:
        try:
            if versioned:
                for v in await store.list_versions(lock.key):
                    if v.key == lock.key:
                        await store.delete(v.key, v.version_id)
            else:
                await store.delete(lock.key)
            removed += 1
        except (ObjectLockedError, StoreError):
            continue
    return removed
