"""Signing in: the password step, then one second factor (passkey, TOTP or a recovery code).

Rules:
1. One answer for every failure: an unknown name, a wrong password, a disabled account, an expired
   one-time password and a wrong code all fail with ``Result.failed`` (the page says one generic
   sentence). An unknown name is checked against a dummy Argon2id hash, so it costs what a wrong
   password costs; the throttle counts names, not accounts, so it too answers alike.
2. Throttling comes first (:mod:`embassy.staff.throttle`): a throttled attempt checks nothing.
3. Every attempt is in the audit log with its outcome and the client's address, never the password
   or code, and never a name that no account has (it may be a password typed in the wrong field).
4. Each step that succeeds gives the session a new id (:meth:`SessionStore.advance`).
5. A session waiting for its second factor allows :data:`MAX_FACTOR_FAILURES` wrong codes; then it
   ends and the sign-in starts again from the password.
6. A :class:`PasswordHook` (the inbox's, embassy/contact/officer_session.py) sees the password once
   it is verified, to open what that password protects, and keeps it with the new session.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from embassy.staff import accounts, passkeys, recovery, totp
from embassy.staff.accounts import Account
from embassy.staff.errors import PasskeyError
from embassy.staff.passkeys import RelyingParty
from embassy.staff.passwords import MAX_LENGTH, PasswordPool, dummy_hash, hash_password, needs_rehash
from embassy.staff.roles import NAME_RE
from embassy.staff.service import Conns, StaffDb
from embassy.staff.sessions import Session
from embassy.staff.throttle import Key

MAX_FACTOR_FAILURES = 5


@dataclass(frozen=True, slots=True)
class Result:
    """``outcome``: ``ok``; ``failed`` (the generic failure); ``restart`` (failed, and the session
    ended: too many wrong codes); ``throttled`` (try again after ``wait`` seconds)."""

    outcome: str
    token: str = ""
    session: Session | None = None
    wait: float = 0.0
    hook_secret: str = ""  # what the password hook keeps for the browser (the inbox cookie), if anything

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


FAILED = Result("failed")


def next_stage_after_password(account: Account) -> str:
    if account.factors:
        return "factor"
    return "password" if account.one_time else "enrol"


def next_stage_after_factor(account: Account) -> str:
    return "password" if account.one_time else "full"


class PasswordHook(Protocol):
    async def after_password(self, name: str, password: str) -> object | None:
        """What the verified ``password`` of ``name`` opens (None: nothing for this account)."""

    def attach(self, c: Conns, session: Session, unlocked: object) -> str:
        """Keep ``unlocked`` with the new ``session``; the secret the browser must hold for it."""


class SignIn:
    def __init__(self, db: StaffDb, pool: PasswordPool, rp: RelyingParty | None, hook: PasswordHook | None = None) -> None:
        self.db = db
        self.pool = pool
        self.rp = rp
        self.hook = hook

    async def password(self, name: str, password: str, address: str, user_agent: str) -> Result:
        name = name.strip()[:64]
        known_form = bool(NAME_RE.match(name)) and 0 < len(password) <= MAX_LENGTH

        def before(c: Conns) -> tuple[list[Key], float, Account | None]:
            keys = [c.throttle.account_key(name), c.throttle.address_key(address)]
            wait = c.throttle.wait(keys)
            account = accounts.find(c.mission, name) if known_form else None
            if wait > 0:
                c.audit(account.name if account else "?", "sign_in.throttled", {"address": address})
            return keys, wait, account

        keys, wait, account = await self.db.run(before)
        if wait > 0:
            return Result("throttled", wait=wait)
        ok = await self.pool.verify(account.password_hash if account else dummy_hash(), password)  # as typed: never truncated
        reason = ""
        if account is None:
            reason = "unknown name"
        elif not ok:
            reason = "wrong password"
        elif account.disabled:
            reason = "account disabled"
        elif account.one_time_expired:
            reason = "one-time password expired"
        if reason:

            def failed(c: Conns) -> None:
                c.throttle.fail(keys)
                c.audit(account.name if account else "?", "sign_in.failed", {"step": "password", "reason": reason,
                                                                              "address": address})  # fmt: skip

            await self.db.run(failed)
            return FAILED
        assert account is not None
        if needs_rehash(account.password_hash) and not account.one_time:  # stronger parameters since it was set
            new_hash = await self.pool.run(hash_password, password)
            name = account.name
            await self.db.run(lambda c: accounts.set_password(c.mission, name, new_hash, actor=name, rehash=True))
        stage = next_stage_after_password(account)
        unlocked = await self.hook.after_password(account.name, password) if self.hook is not None else None

        def start(c: Conns) -> tuple[str, Session, str]:
            token, session = c.sessions.create(account.name, stage, address, user_agent)
            secret = self.hook.attach(c, session, unlocked) if self.hook is not None and unlocked is not None else ""
            c.audit(account.name, "sign_in.password_ok", {"address": address, "next": stage})
            return token, session, secret

        token, session, secret = await self.db.run(start)
        return Result("ok", token, session, hook_secret=secret)

    # -- second factors ------------------------------------------------------------------------------

    async def totp(self, session: Session, code: str, address: str) -> Result:
        def check(c: Conns) -> bool:
            account = accounts.get(c.mission, session.account)
            if account.totp_secret is None:
                return False
            step = totp.matching_step(account.totp_secret, code, account.totp_last_step)
            return step is not None and accounts.use_totp_step(c.mission, account.name, step)

        return await self._factor(session, "totp", address, check)

    async def recovery_code(self, session: Session, code: str, address: str) -> Result:
        digest = recovery.code_hash(code)
        return await self._factor(
            session, "recovery code", address, lambda c: accounts.use_recovery_code(c.mission, session.account, digest)
        )

    async def passkey_options(self, session: Session) -> str | None:
        rp = self.rp
        if rp is None:
            return None

        def begin(c: Conns) -> str | None:
            keys = accounts.passkeys(c.mission, session.account)
            if not keys:
                return None
            challenge, options = passkeys.authentication_options(rp, keys)
            c.sessions.set_challenge(session, challenge)
            return options

        return await self.db.run(begin)

    async def passkey(self, session: Session, response: str, address: str) -> Result:
        rp = self.rp

        def check(c: Conns) -> bool:
            challenge = c.sessions.take_challenge(session)
            if rp is None or challenge is None:
                return False
            try:
                wanted = passkeys.response_credential_id(response)
                found = [p for p in accounts.passkeys(c.mission, session.account) if p.credential_id == wanted]
                if not found:
                    return False
                count = passkeys.verify_authentication(rp, challenge, response, found[0])
            except PasskeyError:
                return False
            accounts.passkey_used(c.mission, found[0].credential_id, count)
            return True

        return await self._factor(session, "passkey", address, check)

    async def _factor(self, session: Session, method: str, address: str, check: Callable[[Conns], bool]) -> Result:
        def run(c: Conns) -> Result:
            keys = [c.throttle.account_key(session.account), c.throttle.address_key(address)]
            wait = c.throttle.wait(keys)
            if wait > 0:
                c.audit(session.account, "sign_in.throttled", {"address": address, "step": method})
                return Result("throttled", wait=wait)
            if not check(c):
                c.throttle.fail(keys)
                failures = c.sessions.count_factor_failure(session)
                detail: dict[str, object] = {"step": method, "reason": "wrong code", "address": address}
                if failures >= MAX_FACTOR_FAILURES:
                    c.sessions.end(session)
                    detail["session_ended"] = True
                c.audit(session.account, "sign_in.failed", detail)
                return Result("restart") if failures >= MAX_FACTOR_FAILURES else FAILED
            account = accounts.get(c.mission, session.account)
            stage = next_stage_after_factor(account)
            token, new = c.sessions.advance(session, stage, reauthenticated=True)
            c.throttle.clear(keys[0])
            if stage == "full":
                accounts.record_sign_in(c.mission, account.name, method, address)
            else:
                c.audit(account.name, "sign_in.factor_ok", {"method": method, "address": address, "next": stage})
            return Result("ok", token, new)

        return await self.db.run(run)
