"""Which of its parent's packs a backup gathers into its own new packs.

A manifest names the packs its chunks are in, and manifests are immutable (signed, and under
Object Lock in the stores), so no later step can move a snapshot's chunks. Left alone, a registry
that changes a little at a time spreads its newest snapshot over one small pack per change: after
every one of 100 files has been rewritten once, a restore fetches 100 packs where a fresh snapshot
would fetch one, and every summary, verify and prune of every later snapshot names them all.

So the backup does what ``restic prune --repack-small`` does, but forward: when the parent spans
more than ``2 x ideal + SLACK`` packs (``ideal``: the fewest packs of ``target`` bytes its live
chunks fit in), the chunks it still uses from its least-used packs (those it uses less than half
of a target's worth of) are read again from the registry, sealed and written into the new
snapshot's packs, as if new, the least-used pack first, at most ``budget`` stored bytes a backup.
The count of packs a snapshot spans then stays under ``2 x ideal + SLACK + 1`` whatever the length
of its history, and the extra upload is bounded per backup. Older snapshots keep naming the old
packs, which prune deletes once no kept snapshot names them.

Pure: sizes in, pack ids out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SLACK = 16  # packs a snapshot may span beyond twice the ideal before any is gathered
BUDGET_SHARE = 64  # a backup gathers at most 1/64 of the snapshot's stored bytes (or one target)


@dataclass(frozen=True, slots=True)
class PackUse:
    id: str
    live: int  # stored bytes of the chunks the snapshot uses in this pack


def ideal_packs(live: int, target: int) -> int:
    return max(1, -(-live // target))


def threshold(live: int, target: int) -> int:
    """The most packs a snapshot of ``live`` stored bytes spans before its backup gathers."""
    return 2 * ideal_packs(live, target) + SLACK


def budget(live: int, target: int) -> int:
    return max(target, live // BUDGET_SHARE)


def packs_to_gather(uses: Iterable[PackUse], target: int) -> set[str]:
    """The parent's packs whose used chunks the next snapshot re-packs; empty while it spans few."""
    uses = list(uses)
    live = sum(u.live for u in uses)
    if len(uses) <= threshold(live, target):
        return set()
    limit = budget(live, target)
    chosen: set[str] = set()
    moved = 0
    for use in sorted(uses, key=lambda u: (u.live, u.id)):
        if use.live * 2 >= target or moved + use.live > limit:
            break
        chosen.add(use.id)
        moved += use.live
    # At least two: past the threshold 17 or more packs are used for under half a target (the
    # others each hold half a target or more of ``live``), and any two of them fit the budget.
    return chosen
