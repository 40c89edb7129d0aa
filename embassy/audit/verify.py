"""`embassy audit verify` as an operation: the local chain, then the chain against the snapshot abroad.

1. The local log is read in one read transaction and walked from entry 1: the first entry whose
   number, previous hash or own hash does not hold is the finding (an edit or a deletion).
2. The newest verified snapshot of the mission database holds the log as it was then
   (:mod:`embassy.audit.anchor`). Its own chain must hold, and the local log must hold each of its
   entries unchanged: a local log with fewer entries had its tail cut; a different entry means the
   log was rewritten and its chain recomputed, which step 1 alone cannot see.
"""

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from embassy.audit.anchor import Anchor, mission_registry, read_anchor
from embassy.audit.chain import ChainBreak, verify_chain
from embassy.audit.log import all_entries
from embassy.config import Config
from embassy.mission_db import MISSION_DB
from keys import Keyring
from replication.errors import ReplicationError


@dataclass(frozen=True, slots=True)
class AuditReport:
    entries: int
    head: str
    broken: ChainBreak | None  # the first local entry that does not hold, or the cut tail
    anchor: Anchor | None
    anchor_error: str = ""
    anchor_checked: bool = False

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.anchor_error

    def to_json(self) -> dict[str, Any]:
        a = self.anchor
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": self.head,
            "first_bad_entry": None if self.broken is None else {"seq": self.broken.seq, "reason": self.broken.reason},
            "snapshot_checked": self.anchor_checked,
            "snapshot": None if a is None else {
                "registry": a.registry, "id": a.snapshot, "store": a.store, "entries": a.count, "head": a.head,
            },
            "snapshot_error": self.anchor_error or None,
        }  # fmt: skip


def local_chain(config: Config) -> tuple[int, str, ChainBreak | None]:
    """Walk the local log: (entries that hold, the last one's hash, the first break)."""
    path = config.data_dir / MISSION_DB
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)) as conn:
        conn.execute("BEGIN")  # one consistent view while the server may be appending
        try:
            return verify_chain(all_entries(conn))
        finally:
            conn.execute("COMMIT")


def _against(count: int, anchor: Anchor) -> ChainBreak | None:
    if anchor.broken is not None:
        return ChainBreak(anchor.broken.seq, f"in snapshot {anchor.snapshot[:12]} abroad: {anchor.broken.reason}")
    first = anchor.first_difference
    if first is None:
        return None
    if first > count:
        return ChainBreak(
            count + 1,
            f"missing tail: snapshot {anchor.snapshot[:12]} abroad holds {anchor.count} entries, the local log {count}",
        )
    return ChainBreak(first, f"differs from the same entry in snapshot {anchor.snapshot[:12]} abroad (rewritten)")


async def verify_audit(config: Config, ring: Keyring | None) -> AuditReport:
    """Check the local log, and (given the keyring) hold it to the newest snapshot abroad."""
    count, head, broken = local_chain(config)
    if ring is None:
        return AuditReport(count, head, broken, None)
    registry = mission_registry(config)
    if registry is None:
        return AuditReport(count, head, broken, None, "no registry replicates the mission database", True)
    try:
        anchor = await read_anchor(config, ring, registry)
    except ReplicationError as e:
        if "has no snapshots" in str(e):  # nothing went abroad yet: nothing to hold the log to
            return AuditReport(count, head, broken, None, "", True)
        return AuditReport(count, head, broken, None, str(e), True)
    return AuditReport(count, head, broken or _against(count, anchor), anchor, "", True)
