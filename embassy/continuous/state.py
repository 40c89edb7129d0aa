"""What the server's continuous replication knows: per registry and per store, as figures.

The supervising process of `embassy serve` owns one :class:`ReplicationState`. It keeps it in
``<data_dir>/cache/continuous.json`` (so that a restart knows which change token was last
snapshotted, and an unchanged registry is not snapshotted again) and publishes it, with the alerts,
as ``<data_dir>/run/replication.json``: the document that the workers serve at
``GET /api/v1/replication`` and read for the staff area's banner. Neither file holds a secret:
names, times, counts, and error lines as the engine words them.

The recovery point of a registry is the time of the newest state of it known to be held by a
quorum abroad: the start of the read of its last snapshot that met the quorum, moved forward to
each later check that found the registry unchanged since. Its age is the RPO.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from replication.fsutil import atomic_write

STATE_FILE = "continuous.json"
DOCUMENT = "replication.json"


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class StoreFigures:
    """One registry's figures in one store."""

    last_snapshot: str | None = None
    time: float | None = None  # when the snapshot's read began (what it recovers)
    status: str = ""  # "ok" | "failed: ..." of the last round
    uploaded_bytes: int = 0
    uploaded_objects: int = 0
    retries: int = 0


@dataclass
class RegistryState:
    token: str | None = None  # the change token of the newest snapshot that met the quorum
    recovery_point: float | None = None
    last_full: float = 0.0  # last full re-read (files cache ignored)
    last_round: float | None = None
    running_since: float | None = None  # a backup of it is running (not kept across restarts)
    last_outcome: str = ""  # snapshot | unchanged | failed | busy | quorum-not-met
    last_error: str | None = None
    quorum_met: bool | None = None
    last_duration: float | None = None
    snapshots: int = 0
    stores: dict[str, StoreFigures] = field(default_factory=dict)


@dataclass
class StoreHealth:
    reachable: bool | None = None
    last_ok: float | None = None
    down_since: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # quorum | store_down | rpo | drill
    subject: str  # the registry, the store, or "drill"
    message: str
    since: float

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message, "since": iso(self.since)}


class ReplicationState:
    def __init__(self, data_dir: Path, registries: list[str], stores: list[str]) -> None:
        self.path = data_dir / "cache" / STATE_FILE
        self.document_path = data_dir / "run" / DOCUMENT
        self.started = time.time()
        self.registries: dict[str, RegistryState] = {r: RegistryState() for r in registries}
        self.stores: dict[str, StoreHealth] = {s: StoreHealth() for s in stores}
        self.alerts: list[Alert] = []
        self.last_drill: dict[str, Any] | None = None
        self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_text())
            for name, raw in doc.get("registries", {}).items():
                if name in self.registries:
                    stores = {s: StoreFigures(**f) for s, f in raw.pop("stores", {}).items()}
                    raw.pop("running_since", None)
                    self.registries[name] = RegistryState(**raw, stores=stores)
        except (OSError, ValueError, TypeError, AttributeError):
            return  # none yet, or damaged: every registry is snapshotted once more

    async def save(self) -> None:
        """Kept across restarts: encoded here, written (fsync included) off the event loop."""
        doc = {"registries": {n: asdict(r) for n, r in self.registries.items()}}
        await asyncio.to_thread(_write, self.path, json.dumps(doc).encode())

    def rpo(self, name: str, now: float) -> float:
        """Seconds since the registry's recovery point (since this server started, if none)."""
        point = self.registries[name].recovery_point
        return now - (point if point is not None else self.started)

    def document(self, now: float | None = None) -> dict[str, Any]:
        """The shape of `embassy status --json`, from what this server saw, with its figures and alerts."""
        now = time.time() if now is None else now
        stores = [
            {
                "name": n,
                "reachable": h.reachable,
                "error": h.error,
                "last_ok": iso(h.last_ok),
                "down_since": iso(h.down_since),
            }
            for n, h in self.stores.items()
        ]
        registries = []
        for n, r in self.registries.items():
            held = {
                s: {
                    "id": f.last_snapshot,
                    "time": iso(f.time),
                    "age_seconds": None if f.time is None else round(now - f.time, 1),
                    "status": f.status,
                    "uploaded_bytes": f.uploaded_bytes,
                    "uploaded_objects": f.uploaded_objects,
                    "retries": f.retries,
                }
                for s, f in r.stores.items()
            }
            newest = max((f for f in r.stores.values() if f.time is not None), key=lambda f: f.time or 0, default=None)
            registries.append(
                {
                    "name": n,
                    "last_snapshot": newest.last_snapshot if newest else None,
                    "time": iso(newest.time) if newest else None,
                    "age_seconds": round(now - newest.time, 1) if newest and newest.time else None,
                    "rpo_seconds": round(self.rpo(n, now), 1),
                    "recovery_point": iso(r.recovery_point),
                    "last_round": iso(r.last_round),
                    "running_since": iso(r.running_since),
                    "last_outcome": r.last_outcome,
                    "last_error": r.last_error,
                    "quorum_met": r.quorum_met,
                    "last_duration_seconds": r.last_duration,
                    "snapshots": r.snapshots,
                    "stores": held,
                }
            )
        return {
            "ok": not self.alerts,
            "updated": iso(now),
            "stores": stores,
            "registries": registries,
            "last_drill": self.last_drill,
            "alerts": [a.to_json() for a in self.alerts],
        }

    async def publish(self) -> None:
        """For the workers: the document made here, from the state as it is now, written off the loop."""
        await asyncio.to_thread(_write, self.document_path, json.dumps(self.document()).encode())


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, data, mode=0o600)


def read_document(data_dir: Path) -> dict[str, Any] | None:
    """The supervisor's published document, or None when no server replicates (or it is unreadable)."""
    try:
        doc = json.loads((data_dir / "run" / DOCUMENT).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
