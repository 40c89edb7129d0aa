"""Timing a comparison more than once: this machine is shared, and one run of each tool can be off
by ±25 % (the kernel's cost of fresh page-cache pages alone varies several-fold between runs).

The tools take turns (peer, ours, peer, ours, ...), so a drift of the machine's speed touches both
alike, and the row quotes each tool's median run; every run's time is kept for the notes.
"""

import argparse
from collections.abc import Callable
from typing import TypeVar

from bench import procs
from bench.session import log

A = TypeVar("A")
B = TypeVar("B")


def alternate(runs: int, peer: Callable[[int], A], ours: Callable[[int], B], what: str) -> tuple[list[A], list[B]]:
    """``runs`` turns of ``peer(i)`` then ``ours(i)``."""
    theirs: list[A] = []
    mine: list[B] = []
    for i in range(runs):
        log(f"{what}: run {i + 1} of {runs} (restic, then ours)")
        theirs.append(peer(i))
        mine.append(ours(i))
    return theirs, mine


def median(items: list[A], seconds: Callable[[A], float | None]) -> A | None:
    """The run with the median time among those that give one (the lower middle when even)."""
    timed = sorted((s, i) for i, item in enumerate(items) if (s := seconds(item)) is not None)
    if not timed:
        return None
    return items[timed[(len(timed) - 1) // 2][1]]


def spread(items: list[A], seconds: Callable[[A], float | None]) -> str:
    """Every run's time, in run order: '3.41, 3.02, 3.18 s' (n/a for a failed run)."""
    parts = []
    for item in items:
        s = seconds(item)
        parts.append("n/a" if s is None else f"{s:.2f}")
    return ", ".join(parts) + " s"


def cpu(runs: list[procs.Measured]) -> str:
    """Median CPU time (user + system, the whole process tree) of the runs: '4.12 s CPU'."""
    times = sorted(m.cpu_user + m.cpu_sys for m in runs)
    return f"{times[(len(times) - 1) // 2]:.2f} s CPU" if times else "n/a"


def repeat_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        choices=range(1, 10),
        metavar="N",
        help="runs of each tool for the read-only comparisons, taking turns; the median is quoted (default 3)",
    )
