"""Token buckets per key, shared through one file by every process that opens it."""

import os
import time
from pathlib import Path

import pytest

from embassy.web.ratelimit import RateLimitError, TokenBucketLimiter, address_key


def test_a_burst_then_the_rate() -> None:
    limiter = TokenBucketLimiter(rate=2.0, burst=3)
    now = 1000.0
    assert [limiter.take("a", now=now).allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.take("a", now=now)
    assert refused.retry_after == pytest.approx(0.5)  # one token at 2 a second
    assert limiter.take("a", now=now + 0.5).allowed  # refused requests spent nothing
    assert not limiter.take("a", now=now + 0.5).allowed
    assert limiter.take("b", now=now).allowed  # another key has its own buckets
    # a long pause refills to the burst, never beyond it
    assert [limiter.take("a", now=now + 3600).allowed for _ in range(4)] == [True, True, True, False]


def test_cost_and_time_going_backwards() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=10)
    assert limiter.take("k", cost=10, now=50.0).allowed
    assert limiter.take("k", cost=4, now=50.0).retry_after == pytest.approx(4.0)
    # buckets stamped far in the future (the file outlived a reboot) count as full
    assert limiter.take("k", cost=10, now=-20.0).allowed


def test_a_stamp_a_moment_ahead_is_no_refill() -> None:
    """Another worker stamped the bucket a moment after this caller's clock read: the tokens stay
    spent (this once refilled the site-wide bucket to its burst under lock contention)."""
    limiter = TokenBucketLimiter(rate=5.0, burst=300)
    assert limiter.take("site", cost=300, now=100.0).allowed
    assert not limiter.take("site", now=99.9).allowed  # lagging by 0.1 s: still empty
    assert limiter.take("site", now=100.2).allowed  # one token refilled, counted from the later stamp
    assert not limiter.take("site", now=100.2).allowed


def test_a_busy_neighbour_in_one_bucket_does_not_lock_a_key_out() -> None:
    """A key is judged by the fuller of its two buckets: one it shares with a hammering stranger
    does not refuse it; only a key whose both buckets are the stranger's pays for the collision."""
    limiter = TokenBucketLimiter(rate=0.001, burst=50, slots=8)
    now = 5.0
    candidates = [f"198.51.100.{i}" for i in range(256)]
    attacker = next(k for k in candidates if len(limiter.buckets(k)) == 2)
    while limiter.take(attacker, now=now).allowed:
        pass
    hot = set(limiter.buckets(attacker))
    candidates.remove(attacker)
    one = next(k for k in candidates if len(set(limiter.buckets(k)) & hot) == 1 and len(limiter.buckets(k)) == 2)
    both = next(k for k in candidates if set(limiter.buckets(k)) <= hot)
    assert limiter.take(one, now=now).allowed
    assert not limiter.take(both, now=now).allowed


def test_workers_share_the_buckets_through_the_file(tmp_path: Path) -> None:
    """A forked process (as `embassy serve --workers N` makes) spends tokens; the parent sees them spent."""
    path = tmp_path / "run" / "ratelimit-search"
    parent = TokenBucketLimiter(rate=0.01, burst=5, path=path)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other worker opens the file itself, as each worker does after the fork
        code = 1
        try:
            child = TokenBucketLimiter(rate=0.01, burst=5, path=path)
            code = 0 if [child.take("203.0.113.7").allowed for _ in range(4)] == [True] * 4 else 2
            child.close()
        finally:
            os.write(ready_w, bytes([code]))
            os._exit(code)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"\0"
    os.close(ready_r)
    os.waitpid(pid, 0)
    assert parent.take("203.0.113.7").allowed  # the fifth token
    assert not parent.take("203.0.113.7").allowed
    assert parent.take("203.0.113.8").allowed
    parent.close()
    files = list((tmp_path / "run").iterdir())
    assert [f.name for f in files] == ["ratelimit-search-16384"]
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert b"203.0.113.7" not in files[0].read_bytes()  # keys are never stored


def test_a_file_that_is_not_a_limiter_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ratelimit-x"
    (tmp_path / "ratelimit-x-64").write_bytes(b"something else entirely" * 100)
    with pytest.raises(
        RateLimitError, match="not a rate-limit file of 1088 bytes; remove it while the server is stopped"
    ):
        TokenBucketLimiter(rate=1, burst=1, path=path, slots=64)


def test_the_take_is_cheap(tmp_path: Path) -> None:
    limiter = TokenBucketLimiter(rate=1, burst=5, path=tmp_path / "ratelimit-cost")
    started = time.perf_counter()
    for i in range(2000):
        limiter.take(f"192.0.2.{i % 200}")
    assert (time.perf_counter() - started) / 2000 < 0.0005  # well under a search's cost (~0.3 ms)
    limiter.close()


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("unknown", "unknown"),
        ("", ""),
    ],
)
def test_address_keys(address: str, key: str) -> None:
    assert address_key(address) == key
