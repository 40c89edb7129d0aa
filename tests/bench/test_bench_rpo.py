"""bench/rpo.py's pure parts: a snapshot key's time and the commit a restorable point covers."""

import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the repository root: bench/ is not installed

from bench.rpo import key_time, seq_at  # noqa: E402


def test_key_time_reads_the_time_in_a_snapshot_key() -> None:
    key = "r/0123456789abcdef01234567/snapshots/20261127T082146.123456Z_" + "ab" * 32
    expected = datetime(2026, 11, 27, 8, 21, 46, 123456, tzinfo=UTC).timestamp()
    assert key_time(key) == expected


def test_key_time_refuses_a_name_that_is_not_a_snapshot_key() -> None:
    assert key_time("r/tag/snapshots/not-a-time_abc") is None
    assert key_time("r/tag/snapshots/") is None


def test_seq_at_gives_the_newest_commit_at_or_before_the_point() -> None:
    log = [(10.0, 1), (10.1, 2), (10.2, 3)]
    assert seq_at(log, 9.9) is None
    assert seq_at(log, 10.1) == (10.1, 2)
    assert seq_at(log, 10.15) == (10.1, 2)
    assert seq_at(log, 99.0) == (10.2, 3)

