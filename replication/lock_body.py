"""The authenticated body of a lock object, and the checks that decide whether a lock is real.

Bytes in, verdicts out; no store I/O (``replication/locks.py`` does that). A lock object's body is

    {"lock": {"format": 1, "kind", "expires", "token", "store", "mission", "host", "pid", "started"},
     "mac": hex(HMAC-SHA256(HKDF(master, "lock-mac"), canonical_json(lock)))}

``kind``, ``expires`` (the key's time form) and ``token`` repeat the object's name, ``store`` is the
name of the store it was written to as the mission's config calls it, ``mission`` the master key
id. Only the mission can compute the MAC, so a store can neither forge a lock nor turn one it holds
into another (another kind, a later expiry, another store's name): any of those is reported and
ignored. The lifetime bound caps what even a real lock can claim: ``expires`` at most
:data:`MAX_LIFETIME` plus :data:`CLOCK_ALLOWANCE` past the reader's clock.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from keys import Keyring
from keys.encoding import canonical_json
from replication.layout import MAX_LOCK_BYTES  # a real body is ~350 bytes; a reader reads no more

LockKind = Literal["backup", "prune"]
LOCK_FORMAT = 1
MAC_LABEL = "lock-mac"
MAX_LIFETIME = timedelta(minutes=10)  # the longest ttl a writer may use
CLOCK_ALLOWANCE = timedelta(minutes=2)  # how far ahead another machine's clock may run
KEY_TIME = "%Y%m%dT%H%M%S.%fZ"


@dataclass(frozen=True, slots=True)
class LockAuth:
    """What reading and writing authenticated locks needs: the MAC key and the mission's id."""

    mac_key: bytes
    mission: str

    @classmethod
    def for_ring(cls, ring: Keyring) -> LockAuth:
        return cls(ring.derived_key(MAC_LABEL), ring.master_key_id)

    def mac(self, lock: dict[str, Any]) -> str:
        return hmac.new(self.mac_key, canonical_json(lock), "sha256").hexdigest()


@dataclass(frozen=True, slots=True)
class Holder:
    """Who wrote a lock: shown to an operator whose command waits for it."""

    host: str
    pid: int
    started: str

    def describe(self) -> str:
        return f"{self.host} (pid {self.pid}, since {self.started})"


def key_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime(KEY_TIME)


def encode_body(auth: LockAuth, kind: LockKind, expires: datetime, token: str, store: str, holder: Holder) -> bytes:
    lock = {
        "format": LOCK_FORMAT,
        "kind": kind,
        "expires": key_time(expires),
        "token": token,
        "store": store,
        "mission": auth.mission,
        "host": holder.host,
        "pid": holder.pid,
        "started": holder.started,
    }
    return json.dumps({"lock": lock, "mac": auth.mac(lock)}, sort_keys=True).encode()


def impossible_expiry(expires: datetime, now: datetime) -> str | None:
    """Why a lock expiring then cannot be real, or None: the name alone decides this."""
    if expires > now + MAX_LIFETIME + CLOCK_ALLOWANCE:
        minutes = int((MAX_LIFETIME + CLOCK_ALLOWANCE).total_seconds() // 60)
        return (
            f"expires {expires:%Y-%m-%d %H:%M:%S} UTC, more than {minutes} minutes ahead, "
            "longer than any lock lives (forged, or a clock far ahead)"
        )
    return None


def oversized(size: int) -> str | None:
    if size > MAX_LOCK_BYTES:
        return f"its body is {size} bytes, more than a lock's {MAX_LOCK_BYTES}"
    return None


def check_body(data: bytes, auth: LockAuth, kind: LockKind, expires: datetime, token: str, store: str) -> Holder | str:
    """The holder of a real lock named (kind, expires, token) in ``store``, else why it is not real."""
    if (reason := oversized(len(data))) is not None:
        return reason
    try:
        doc = json.loads(data)
        lock = doc["lock"]
        mac = doc["mac"]
        if not isinstance(lock, dict) or not isinstance(mac, str):
            raise TypeError("not a lock")
    except (ValueError, KeyError, TypeError):
        return "not written by this mission (no valid MAC)"
    if not hmac.compare_digest(mac.encode(), auth.mac(lock).encode()):
        mission = lock.get("mission")
        if isinstance(mission, str) and mission != auth.mission:
            return f"it belongs to another mission (master key {mission[:32]})"
        return "not written by this mission (no valid MAC)"
    # Authentic: what remains is whether the name and the body agree, as the writer made them.
    if lock.get("format") != LOCK_FORMAT:
        return f"its lock format {lock.get('format')!r} is unknown"
    if lock.get("kind") != kind:
        return f"its name says {kind} but its signed body says {lock.get('kind')}"
    if lock.get("expires") != key_time(expires):
        return f"its name says it expires {key_time(expires)} but its signed body says {lock.get('expires')}"
    if lock.get("token") != token:
        return f"its name's token {token} differs from its signed body's {lock.get('token')}"
    if lock.get("store") != store:
        return f"it was written for store {lock.get('store')}, not {store}"
    try:
        return Holder(str(lock["host"]), int(lock["pid"]), str(lock["started"]))
    except (KeyError, TypeError, ValueError):
        return "its signed body lacks the holder"
