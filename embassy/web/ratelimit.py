"""Per-key token buckets shared by every worker process, holding no key.

A limiter allows ``burst`` requests at once and ``rate`` per second after that, per key (a client
address from :func:`address_key`, an account name, ...). With ``--workers N`` each worker maps the
same small file (``<data_dir>/run/ratelimit-<name>-<slots>``), so the limit holds for the whole
server, not N times over; the file is not replicated and says only "something near here was busy".

Layout: a 64-byte header (``MAGIC``, then a random 32-byte salt written once, when the file is
made), then ``slots`` buckets of two little-endian doubles: tokens left and the CLOCK_MONOTONIC
second they were counted at (shared by all processes of one boot; 0 = never used).

Keys are never stored. A key picks two buckets by a keyed BLAKE2b of the salt and the key, and is
judged by the fuller of its two (as in a count-min sketch): a client is refused only when both of
its buckets are empty, so sharing one bucket with a busy stranger does not lock it out, and an
attacker who cannot read the salt cannot aim at another client's buckets. A bucket stamped more
than ``REBOOT_SKEW`` seconds in the future was last touched before a reboot and counts as full; one
stamped a moment ahead (a caller's own ``now`` lagging another process's) keeps its tokens, without
refill: the clock is read only once the lock is held, so one process's lag never refills a bucket.

Every read-modify-write of buckets happens under an exclusive ``flock`` of the file, held for a few
microseconds and never across an ``await``; each process opens the file itself, as flock locks
belong to an open file description. Without a path, buckets live in this process's memory only.
"""

import fcntl
import hashlib
import ipaddress
import math
import mmap
import os
import secrets
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

MAGIC = b"embassy-ratelimit-v1\n".ljust(32, b"\0")
HEADER = 64
_BUCKET = struct.Struct("<dd")
DEFAULT_SLOTS = 16384  # 256 KiB
REBOOT_SKEW = 60.0  # a stamp further ahead than this is from before a reboot


class RateLimitError(Exception):
    """The shared limiter file cannot be used (unreadable, or not a limiter file)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: float  # seconds until the request would be allowed; 0 when it was


def address_key(address: str) -> str:
    """The rate-limit key of a client address: IPv4 per address, IPv6 per /64 (one customer's
    network: an attacker there has 2**64 addresses to rotate through). Anything else is its own key."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class TokenBucketLimiter:
    def __init__(self, rate: float, burst: int, path: Path | None = None, *, slots: int = DEFAULT_SLOTS) -> None:
        """``rate`` tokens a second, at most ``burst`` held; ``path`` shares the buckets with
        every process that opens the same path. Raises RateLimitError when the file is not usable."""
        if rate <= 0 or burst < 1 or slots < 2:
            raise ValueError("a limiter needs rate > 0, burst >= 1 and at least 2 slots")
        self.rate = float(rate)
        self.burst = float(burst)
        self.slots = slots
        size = HEADER + slots * _BUCKET.size
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, size)
            self._salt = secrets.token_bytes(32)
        else:
            self._map, self._fd, self._salt = _open_shared(path.with_name(f"{path.name}-{slots}"), size)

    def take(self, key: str, cost: float = 1.0, now: float | None = None) -> Verdict:
        """Spend ``cost`` tokens of ``key``'s buckets if they hold them; a refused request spends nothing."""
        offsets = tuple(HEADER + i * _BUCKET.size for i in self.buckets(key))
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            # read under the lock: a clock read before it lags the stamp of whoever held it meanwhile
            now = time.monotonic() if now is None else now
            counted = [self._level(offset, now) for offset in offsets]
            best = max(level for level, _ in counted)
            if best < cost:
                return Verdict(False, (cost - best) / self.rate)
            for offset, (level, stamp) in zip(offsets, counted, strict=True):
                _BUCKET.pack_into(self._map, offset, max(0.0, level - cost), stamp)
            return Verdict(True, 0.0)
        finally:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def buckets(self, key: str) -> tuple[int, ...]:
        """The one or two bucket numbers ``key`` is judged by (they depend on this file's salt)."""
        digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), key=self._salt, digest_size=16).digest()
        first = int.from_bytes(digest[:8], "little") % self.slots
        second = int.from_bytes(digest[8:], "little") % self.slots
        return (first,) if first == second else (first, second)

    def _level(self, offset: int, now: float) -> tuple[float, float]:
        """A bucket's tokens at ``now``, and the time they are counted at (a stamp a moment ahead stays)."""
        tokens, stamp = _BUCKET.unpack_from(self._map, offset)
        if stamp <= 0 or stamp > now + REBOOT_SKEW or not math.isfinite(tokens):
            return self.burst, now
        return float(min(self.burst, max(0.0, tokens) + max(0.0, now - stamp) * self.rate)), max(now, stamp)

    def close(self) -> None:
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _open_shared(path: Path, size: int) -> tuple[mmap.mmap, int, bytes]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise RateLimitError(f"{path}: cannot open the rate-limit file: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            have = os.fstat(fd).st_size
            if have == 0:  # the first process: lay out the file
                os.ftruncate(fd, size)
                os.pwrite(fd, MAGIC + secrets.token_bytes(32), 0)
            elif have != size or os.pread(fd, len(MAGIC), 0) != MAGIC:
                raise RateLimitError(
                    f"{path}: not a rate-limit file of {size} bytes; remove it while the server is stopped"
                )
            salt = os.pread(fd, 32, len(MAGIC))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return mmap.mmap(fd, size), fd, salt
    except BaseException:
        os.close(fd)
        raise


def too_many_requests(verdict: Verdict) -> web.HTTPTooManyRequests:
    """The 429 to raise for a refused verdict, with Retry-After in whole seconds (at least 1)."""
    return web.HTTPTooManyRequests(headers={"Retry-After": str(max(1, math.ceil(verdict.retry_after)))})
