"""The audit log's hash chain: bytes in, verdicts out (no I/O).

Entry ``n``'s hash is ``SHA-256(b"virtual-embassy/audit/v1\\n" || canonical_json(fields))`` where
the fields are ``seq``, ``time``, ``actor``, ``action``, ``detail`` (an object) and ``prev`` (entry
``n - 1``'s hash; 64 zeros for the first). Canonical JSON: sorted keys, no spaces, UTF-8. The
sequence numbers run 1, 2, 3, ... without gaps, so a deleted entry shows as a gap and as a
``prev`` that does not match, an edited one as a hash that does not match.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DOMAIN = b"virtual-embassy/audit/v1\n"
GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    time: str
    actor: str
    action: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "detail": self.detail,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first entry at which the chain does not hold, and why."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(seq: int, time: str, actor: str, action: str, detail: dict[str, Any], prev: str) -> str:
    fields = {"seq": seq, "time": time, "actor": actor, "action": action, "detail": detail, "prev": prev}
    return hashlib.sha256(DOMAIN + canonical(fields)).hexdigest()


def verify_chain(entries: Iterable[Entry]) -> tuple[int, str, ChainBreak | None]:
    """Walk the entries in order: the count and head hash of the valid prefix, and the first break."""
    expected_seq, prev, count = 1, GENESIS, 0
    for e in entries:
        if e.seq != expected_seq:
            missing = f"entry {expected_seq} is missing" if e.seq > expected_seq else "out of order"
            return count, prev, ChainBreak(e.seq, f"{missing} (found {e.seq} after {expected_seq - 1})")
        if e.prev_hash != prev:
            return count, prev, ChainBreak(e.seq, "does not follow the entry before it (previous hash differs)")
        if entry_hash(e.seq, e.time, e.actor, e.action, e.detail, e.prev_hash) != e.hash:
            return count, prev, ChainBreak(e.seq, "its content does not match its hash (edited)")
        expected_seq, prev, count = e.seq + 1, e.hash, count + 1
    return count, prev, None
