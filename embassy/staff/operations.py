"""What an operator (`embassy staff ...`) or an admin (the staff area) does to accounts.

Each operation changes the mission database (with its audit entry) and ends what must end in the
sessions database: disabling an account, resetting it or changing its roles ends its sessions
at once (its holder signs in again with the new rights); disabling also revokes its API tokens.
Callers hash the one-time passwords (:func:`embassy.staff.passwords.hash_password`) on a thread
that may block.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from embassy.audit.log import record
from embassy.staff import accounts
from embassy.staff.accounts import ONE_TIME_DAYS, Account
from embassy.staff.service import Conns
from embassy.staff.sessions import Session


@dataclass(frozen=True, slots=True)
class Done:
    account: Account
    sessions_ended: int = 0


def add(c: Conns, name: str, roles: Sequence[str], password_hash: str, *, actor: str,
        one_time_days: float | None = ONE_TIME_DAYS) -> Done:  # fmt: skip
    return Done(accounts.create(c.mission, name, roles, password_hash, actor=actor, one_time_days=one_time_days))


def set_roles(c: Conns, name: str, roles: Sequence[str], *, actor: str, keep: Session | None = None) -> Done:
    account = accounts.set_roles(c.mission, name, roles, actor=actor)
    return Done(account, c.sessions.end_account(name, keep=keep))


def disable(c: Conns, name: str, *, actor: str) -> Done:
    account = accounts.set_disabled(c.mission, name, True, actor=actor)
    return Done(account, c.sessions.end_account(name))


def enable(c: Conns, name: str, *, actor: str) -> Done:
    return Done(accounts.set_disabled(c.mission, name, False, actor=actor))


def reset(c: Conns, name: str, password_hash: str, *, actor: str) -> Done:
    account = accounts.reset(c.mission, name, password_hash, actor=actor)
    return Done(account, c.sessions.end_account(name))


def unlock(c: Conns, name: str, *, actor: str) -> Done:
    """Lift the sign-in throttle on ``name`` (after too many failures)."""
    account = accounts.get(c.mission, name)
    lifted = c.throttle.clear(c.throttle.account_key(name))
    record(c.mission, actor, "account.unlocked", {"account": name, "was_throttled": lifted})
    return Done(account)


def end_sessions(c: Conns, name: str | None, *, actor: str, keep: Session | None = None) -> int:
    """End every session of ``name`` (None: of every account), but ``keep``."""
    ended = c.sessions.end_account(name, keep=keep) if name else c.sessions.end_all(keep=keep)
    record(c.mission, actor, "sessions.ended", {"account": name or "*", "count": ended})
    return ended
