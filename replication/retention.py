"""Object Lock retention: how long objects are held, and a local memory of what was set.

New objects are locked until ``now + lock_days + slack``. An object that a new snapshot reuses
(dedup) must stay locked at least as long as that snapshot: when its remembered retention ends
before ``now + lock_days``, it is extended to ``now + lock_days + slack``. The slack (a quarter of
the lock, at least a day) means a busy registry does not re-extend every object on every round.
The memory is a cache in the data dir; without it (a fresh machine) the store is asked.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from replication.fsutil import atomic_write


def slack(lock_days: int) -> timedelta:
    return timedelta(days=max(1, math.ceil(lock_days / 4)))


def lock_until(lock_days: int, now: datetime) -> datetime:
    return now + timedelta(days=lock_days) + slack(lock_days)


def retain_until(lock_days: int, now: datetime | None = None) -> datetime | None:
    """The retention for an object written now to a store with ``lock_days``, or None (no lock)."""
    return lock_until(lock_days, now or datetime.now(UTC)) if lock_days else None


class RetentionMemory:
    """What retention this machine set or saw on each object of one store."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._until: dict[str, str] = {}
        self._dirty = False
        if path is not None and path.exists():
            try:
                self._until = dict(json.loads(path.read_text()))
            except (ValueError, TypeError):
                self._until = {}  # a damaged cache only costs extra requests

    def get(self, key: str) -> datetime | None:
        value = self._until.get(key)
        return datetime.fromisoformat(value) if value else None

    def set(self, key: str, until: datetime) -> None:
        self._until[key] = until.astimezone(UTC).isoformat()
        self._dirty = True

    def save(self) -> None:
        if self.path is not None and self._dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(self._until).encode(), mode=0o600)
            self._dirty = False

    def discard(self, key: str) -> None:
        """Forget what was remembered of ``key`` (deleted, or found to be wrong)."""
        if self._until.pop(key, None) is not None:
            self._dirty = True
