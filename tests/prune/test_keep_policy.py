"""The keep policy as a table: snapshots in, kept (with the rules that keep them) and forgotten out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from replication.keep import apply_keep
from replication.spec import KeepPolicy


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


def policy(last: int = 0, daily: int = 0, weekly: int = 0, monthly: int = 0) -> KeepPolicy:
    return KeepPolicy(last, daily, weekly, monthly)


# (name, policy, snapshots as (id, time), expected kept {id: reasons}) - forgotten is the rest.
CASES = [
    (
        "last keeps the N newest",
        policy(last=3),
        [
            ("a", "2026-01-01T10:00"),
            ("b", "2026-01-01T11:00"),
            ("c", "2026-01-02T10:00"),
            ("d", "2026-01-03T10:00"),
            ("e", "2026-01-04T10:00"),
        ],
        {"e": ["last"], "d": ["last"], "c": ["last"]},
    ),
    (
        "daily keeps the newest of each day",
        policy(daily=2),
        [
            ("d1-early", "2026-03-01T01:00"),
            ("d1-late", "2026-03-01T23:59"),
            ("d2-early", "2026-03-02T00:00"),
            ("d2-late", "2026-03-02T12:00"),
            ("d3", "2026-03-03T08:00"),
        ],
        {"d3": ["daily"], "d2-late": ["daily"]},
    ),
    (
        "days without snapshots do not use up the count",
        policy(daily=3),
        [
            ("jan1", "2026-01-01T12:00"),
            ("jan5", "2026-01-05T12:00"),
            ("jan10", "2026-01-10T12:00"),
            ("dec", "2025-12-31T12:00"),
        ],
        {"jan10": ["daily"], "jan5": ["daily"], "jan1": ["daily"]},
    ),
    (
        "weekly follows ISO weeks across the new year (2025-W01 starts on Monday 2024-12-30)",
        policy(weekly=2),
        [
            ("w52-sun", "2024-12-29T20:00"),
            ("w01-mon", "2024-12-30T09:00"),
            ("w01-sun", "2025-01-05T09:00"),
            ("w51", "2024-12-20T09:00"),
        ],
        {"w01-sun": ["weekly"], "w52-sun": ["weekly"]},
    ),
    (
        "monthly keeps the newest of each month, across years",
        policy(monthly=3),
        [
            ("nov", "2025-11-30T23:00"),
            ("dec-a", "2025-12-01T00:00"),
            ("dec-b", "2025-12-31T23:59"),
            ("jan", "2026-01-15T00:00"),
            ("oct", "2025-10-10T00:00"),
        ],
        {"jan": ["monthly"], "dec-b": ["monthly"], "nov": ["monthly"]},
    ),
    (
        "rules combine, and every rule keeping a snapshot is named",
        policy(last=2, daily=2, monthly=2),
        [
            ("a", "2026-02-27T10:00"),
            ("b", "2026-02-28T09:00"),
            ("c", "2026-02-28T10:00"),
            ("d", "2026-03-01T10:00"),
            ("e", "2026-03-01T11:00"),
        ],
        {"e": ["last", "daily", "monthly"], "d": ["last"], "c": ["daily", "monthly"]},
    ),
    (
        "a policy with only one period rule still keeps the newest",
        policy(monthly=1),
        [("old", "2026-05-01T00:00"), ("new", "2026-05-02T00:00")],
        {"new": ["monthly"]},
    ),
    (
        "equal times are ordered by id, as `restore latest` orders them",
        policy(last=1),
        [("aaa", "2026-01-01T00:00"), ("bbb", "2026-01-01T00:00")],
        {"bbb": ["last"]},
    ),
    (
        "days are UTC days, whatever offset the times carry",
        policy(daily=1),
        # 01:00 at UTC+5 on the 2nd is 20:00 UTC on the 1st: the same UTC day as 'utc'.
        [("utc", "2026-06-01T10:00"), ("plus5", "2026-06-02T01:00+05:00")],
        {"plus5": ["daily"]},
    ),
    ("nothing in, nothing out", policy(last=5), [], {}),
    (
        "counts larger than the history keep everything",
        policy(last=10, daily=10, weekly=10, monthly=10),
        [("a", "2026-01-01T00:00"), ("b", "2026-01-01T01:00")],
        {"b": ["last", "daily", "weekly", "monthly"], "a": ["last"]},
    ),
]


@pytest.mark.parametrize(("name", "keep", "snapshots", "expected"), CASES, ids=[c[0] for c in CASES])
def test_keep_policy(
    name: str, keep: KeepPolicy, snapshots: list[tuple[str, str]], expected: dict[str, list[str]]
) -> None:
    decision = apply_keep([(sid, t(when)) for sid, when in snapshots], keep)
    assert {sid: list(reasons) for sid, reasons in decision.kept.items()} == expected
    everything = {sid for sid, _ in snapshots}
    assert set(decision.forgotten) == everything - set(expected)
    assert not set(decision.forgotten) & set(decision.kept)


def test_kept_and_forgotten_are_listed_newest_first() -> None:
    base = datetime(2026, 4, 1, tzinfo=UTC)
    snaps = [(f"s{i}", base + timedelta(hours=i)) for i in range(6)]
    decision = apply_keep(reversed(snaps), policy(last=3))
    assert list(decision.kept) == ["s5", "s4", "s3"]
    assert decision.forgotten == ("s2", "s1", "s0")


def test_the_default_policy_over_a_year_of_hourly_snapshots() -> None:
    """last 10, daily 14, weekly 8, monthly 12: the sizes restic's rules give, and the newest kept."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    snaps = [(f"h{i:05d}", start + timedelta(hours=i)) for i in range(365 * 24)]
    decision = apply_keep(snaps, KeepPolicy())
    newest = snaps[-1][0]
    assert decision.kept[newest] == ("last", "daily", "weekly", "monthly")
    reasons = [r for rs in decision.kept.values() for r in rs]
    assert {r: reasons.count(r) for r in ("last", "daily", "weekly", "monthly")} == {
        "last": 10,
        "daily": 14,
        "weekly": 8,
        "monthly": 12,
    }
    # The daily picks are the last hour of each of the 14 most recent days.
    daily = sorted(sid for sid, rs in decision.kept.items() if "daily" in rs)
    assert [int(sid[1:]) % 24 for sid in daily] == [23] * 14
    assert len(decision.kept) + len(decision.forgotten) == len(snaps)


def test_offsets_other_than_utc_are_compared_as_instants() -> None:
    kz = timezone(timedelta(hours=5))
    a = ("a", datetime(2026, 1, 1, 12, 0, tzinfo=kz))  # 07:00 UTC
    b = ("b", datetime(2026, 1, 1, 8, 0, tzinfo=UTC))  # later, though its wall clock reads earlier
    assert list(apply_keep([a, b], policy(last=1)).kept) == ["b"]
