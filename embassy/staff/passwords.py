"""Passwords: Argon2id hashes, the policy for new ones, and a bounded pool that runs the hashing.

Hashes use argon2-cffi's RFC 9106 "low memory" profile (Argon2id, 64 MiB, 3 passes, 4 lanes:
~0.14 s on this project's 2-core test machine), stronger than OWASP's minimum (19 MiB, 2 passes,
1 lane). The parameters are part of each PHC hash string, so raising them later re-hashes each
password at its next sign-in (:func:`needs_rehash`).

A new password has 12 to 256 characters, taken exactly as typed (no trimming, no case folding, any
characters), and zxcvbn must score it at least 3 of 4, with the mission's name, the account's name
and :data:`CONTEXT_WORDS` counted against it. zxcvbn knows the 30,000 most common passwords of
public breaches; no password is sent anywhere to be checked.
"""

import asyncio
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from embassy.staff.errors import PasswordPoolBusyError, WeakPasswordError
from embassy.staff.roles import ROLES

T = TypeVar("T")

HASHER = PasswordHasher()  # argon2-cffi's default: RFC 9106 low-memory profile, Argon2id
MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_SCORE = 3
ZXCVBN_MAX = 72  # zxcvbn's own limit; longer passwords are judged by their first 72 characters

# Words anyone would guess for this service's staff (docs/web.md lists them), besides the
# mission's own name and the account's name.
CONTEXT_WORDS = (
    "embassy", "mission", "virtual", "diplomat", "diplomatic", "ambassador", "consul", "consulate",
    "staff", "password", "passkey", "kazakhstan", "astana", "almaty", *ROLES,
)  # fmt: skip


def new_one_time_password() -> str:
    """About 124 bits, easy to type: five groups of five lower-case letters and digits."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(5))


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


_dummy: str | None = None


def dummy_hash() -> str:
    """A hash to verify against when the name is unknown, so that costs what a real check costs."""
    global _dummy
    if _dummy is None:
        _dummy = HASHER.hash(secrets.token_urlsafe(24))
    return _dummy


def context_words(mission: str, account: str) -> list[str]:
    words = [mission, account, *re.split(r"[\s._-]+", mission), *re.split(r"[._-]+", account)]
    return [w for w in dict.fromkeys(w.lower() for w in [*words, *CONTEXT_WORDS]) if len(w) >= 3]


def check_new_password(password: str, *, mission: str, account: str) -> None:
    """Raise :class:`WeakPasswordError` unless the policy accepts ``password`` (CPU: ~5 ms)."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_LENGTH} characters", "too_short")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"a password has at most {MAX_LENGTH} characters", "too_long")
    lowered = password.lower()
    if account.lower() in lowered or mission.lower() in lowered:
        raise WeakPasswordError("a password must not contain the account's or the mission's name", "has_name")
    result = zxcvbn(password[:ZXCVBN_MAX], user_inputs=context_words(mission, account))
    if int(result["score"]) < MIN_SCORE:
        raise WeakPasswordError("this password is too easy to guess", "guessable")


class PasswordPool:
    """Password hashing and checks on ``threads`` threads, with at most ``queue`` more waiting.

    Argon2 releases the GIL, so the event loop keeps serving while hashes run; memory stays at
    ``threads`` x 64 MiB. When the queue is full a call fails at once with
    :class:`PasswordPoolBusyError` (the staff area answers 503), so a flood of sign-in attempts
    costs the site at most these threads and never an unbounded queue.
    """

    def __init__(self, threads: int = 2, queue: int = 8) -> None:
        self.threads = threads
        self.capacity = threads + queue
        self.in_use = 0
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="password")

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self.in_use >= self.capacity:
            raise PasswordPoolBusyError("too many sign-in attempts are being checked; try again in a few seconds")
        self.in_use += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self.in_use -= 1

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self.run(verify_password, password_hash, password)

    async def hash(self, password: str) -> str:
        return await self.run(hash_password, password)

    async def check_new(self, password: str, *, mission: str, account: str) -> None:
        await self.run(lambda: check_new_password(password, mission=mission, account=account))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
