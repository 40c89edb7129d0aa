"""Which snapshots a keep policy keeps: restic's ``forget --keep-*`` semantics, as a pure function.

Over one registry's snapshots, newest first:
- ``last``: the ``last`` newest snapshots;
- ``daily`` / ``weekly`` / ``monthly``: the newest snapshot of each of the N most recent UTC days /
  ISO weeks / months that have snapshots (days without snapshots do not use up the count).

A snapshot is kept when any rule keeps it, and is reported with every rule that does. Every rule
with a count above zero keeps the newest snapshot, so a policy that keeps anything keeps it.
Snapshots with equal times are ordered by id, as the catalog and ``restore latest`` order them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from replication.spec import KeepPolicy

Bucket = Callable[[datetime], tuple[int, ...]]

_RULES: tuple[tuple[str, Bucket], ...] = (
    ("daily", lambda t: (t.year, t.month, t.day)),
    ("weekly", lambda t: tuple(t.isocalendar())[:2]),
    ("monthly", lambda t: (t.year, t.month)),
)


@dataclass(frozen=True, slots=True)
class KeepDecision:
    kept: dict[str, tuple[str, ...]]  # snapshot id -> the rules that keep it; newest first
    forgotten: tuple[str, ...]  # newest first


def apply_keep(snapshots: Iterable[tuple[str, datetime]], policy: KeepPolicy) -> KeepDecision:
    """Split ``(id, UTC time)`` pairs into kept (with reasons) and forgotten, newest first."""
    ordered = sorted(((sid, t.astimezone(UTC)) for sid, t in snapshots), key=lambda s: (s[1], s[0]), reverse=True)
    left = {"last": policy.last, "daily": policy.daily, "weekly": policy.weekly, "monthly": policy.monthly}
    seen: dict[str, tuple[int, ...] | None] = {name: None for name, _ in _RULES}
    kept: dict[str, tuple[str, ...]] = {}
    forgotten: list[str] = []
    for snapshot_id, time in ordered:
        reasons: list[str] = []
        if left["last"] > 0:
            left["last"] -= 1
            reasons.append("last")
        for name, bucket in _RULES:
            value = bucket(time)
            # Newest first: the first snapshot met in a period is that period's newest.
            if left[name] > 0 and value != seen[name]:
                seen[name] = value
                left[name] -= 1
                reasons.append(name)
        if reasons:
            kept[snapshot_id] = tuple(reasons)
        else:
            forgotten.append(snapshot_id)
    return KeepDecision(kept, tuple(forgotten))
