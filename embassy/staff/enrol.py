"""Setting one's own credentials: a new password, TOTP, passkeys and recovery codes.

During the first sign-in (session stages ``password`` and ``enrol``) the user has just given the
one-time password, so nothing more is asked. Once signed in, every change of a credential asks
for the current password first (a wrong one counts as a failed sign-in for the throttle), and
ends the account's other sessions: whoever else held one must sign in with the new credentials.
"""

from collections.abc import Callable
from dataclasses import dataclass

from embassy.staff import accounts, passkeys, recovery, totp
from embassy.staff.errors import PasskeyError, StaffError, WeakPasswordError
from embassy.staff.passkeys import RelyingParty
from embassy.staff.passwords import PasswordPool, hash_password, verify_password
from embassy.staff.service import Conns, StaffDb
from embassy.staff.sessions import Session


class ReauthenticationError(StaffError):
    """The current password given to confirm a change was wrong (or throttled)."""


@dataclass(frozen=True, slots=True)
class Changed:
    """A credential changed: the session's new id (and stage), and recovery codes to show once."""

    token: str
    session: Session
    recovery_codes: tuple[str, ...] = ()


class Enrolment:
    def __init__(self, db: StaffDb, pool: PasswordPool, rp: RelyingParty | None, mission: str) -> None:
        self.db = db
        self.pool = pool
        self.rp = rp
        self.mission = mission

    async def reauthenticate(self, session: Session, password: str, address: str) -> None:
        """Ask for the current password again (signed-in sessions only; the first sign-in needs not)."""
        if not session.full:
            return

        def load(c: Conns) -> tuple[str, float]:
            keys = [c.throttle.account_key(session.account), c.throttle.address_key(address)]
            return accounts.get(c.mission, session.account).password_hash, c.throttle.wait(keys)

        password_hash, wait = await self.db.run(load)
        if wait > 0:
            raise ReauthenticationError(f"too many attempts; wait {int(wait) + 1} seconds")
        if not await self.pool.verify(password_hash, password):

            def failed(c: Conns) -> None:
                c.throttle.fail([c.throttle.account_key(session.account), c.throttle.address_key(address)])
                c.audit(session.account, "reauthentication.failed", {"address": address})

            await self.db.run(failed)
            raise ReauthenticationError("the current password is wrong")

    async def change_password(self, session: Session, new: str, repeat: str) -> Changed:
        if new != repeat:
            raise WeakPasswordError("the two new passwords differ", "differ")
        await self.pool.check_new(new, mission=self.mission, account=session.account)
        old_hash = await self.db.run(lambda c: accounts.get(c.mission, session.account).password_hash)
        if await self.pool.run(verify_password, old_hash, new):
            raise WeakPasswordError("the new password is the one in use", "same")
        new_hash = await self.pool.run(hash_password, new)

        def change(c: Conns) -> Changed:
            accounts.set_password(c.mission, session.account, new_hash, actor=session.account)
            account = accounts.get(c.mission, session.account)
            stage = "full" if session.full or account.factors else "enrol"
            token, new_session = c.sessions.advance(session, stage)
            c.sessions.end_account(session.account, keep=new_session)
            return Changed(token, new_session)

        return await self.db.run(change)

    # -- TOTP ------------------------------------------------------------------------------------------

    async def confirm_totp(self, session: Session, secret: str, code: str) -> Changed:
        """Enrol the TOTP ``secret`` (shown to the user) once the code from their app matches it."""
        if len(secret) != 32 or any(ch not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for ch in secret):
            raise StaffError("the authenticator secret was altered; start again")
        step = totp.matching_step(secret, code, None)
        if step is None:
            raise StaffError("that code does not match; check the app's time and type the newest code")
        return await self._factor_added(
            session, lambda c: accounts.set_totp(c.mission, session.account, secret, step, actor=session.account)
        )

    async def remove_totp(self, session: Session) -> Changed:
        return await self._changed(session, lambda c: accounts.remove_totp(c.mission, session.account,
                                                                           actor=session.account))  # fmt: skip

    # -- passkeys --------------------------------------------------------------------------------------

    async def passkey_options(self, session: Session) -> str:
        rp = self._rp()

        def begin(c: Conns) -> str:
            account = accounts.get(c.mission, session.account)
            challenge, options = passkeys.registration_options(
                rp, account.name, account.webauthn_user_id, accounts.passkeys(c.mission, account.name)
            )
            c.sessions.set_challenge(session, challenge)
            return options

        return await self.db.run(begin)

    async def register_passkey(self, session: Session, response: str, label: str) -> Changed:
        rp = self._rp()
        label = " ".join(label.split())[:40] or "passkey"

        def add(c: Conns) -> None:
            challenge = c.sessions.take_challenge(session)
            if challenge is None:
                raise PasskeyError("the passkey request expired or was used; try again")
            registered = passkeys.verify_registration(rp, challenge, response)
            accounts.add_passkey(
                c.mission, session.account, registered.credential_id, registered.public_key, registered.sign_count,
                label, actor=session.account,
            )  # fmt: skip

        return await self._factor_added(session, add)

    async def remove_passkey(self, session: Session, credential_id: bytes) -> Changed:
        return await self._changed(
            session, lambda c: accounts.remove_passkey(c.mission, session.account, credential_id, actor=session.account)
        )

    def _rp(self) -> RelyingParty:
        if self.rp is None:
            raise PasskeyError("passkeys need a host name (not an IP address) served over HTTPS, or localhost")
        return self.rp

    # -- recovery codes --------------------------------------------------------------------------------

    async def new_recovery_codes(self, session: Session) -> Changed:
        codes = recovery.new_codes()
        changed = await self._changed(
            session,
            lambda c: accounts.replace_recovery_codes(
                c.mission, session.account, [recovery.code_hash(x) for x in codes], actor=session.account
            ),
        )
        return Changed(changed.token, changed.session, tuple(codes))

    # -- shared ----------------------------------------------------------------------------------------

    async def _factor_added(self, session: Session, add: Callable[[Conns], None]) -> Changed:
        """Add a factor; the first one completes the first sign-in and comes with recovery codes."""
        codes = recovery.new_codes()

        def run(c: Conns) -> Changed:
            add(c)
            first = session.stage == "enrol"
            if first or accounts.get(c.mission, session.account).recovery_codes_left == 0:
                accounts.replace_recovery_codes(
                    c.mission, session.account, [recovery.code_hash(x) for x in codes], actor=session.account
                )
                shown = tuple(codes)
            else:
                shown = ()
            token, new = c.sessions.advance(session, "full", reauthenticated=first)
            if first:
                accounts.record_sign_in(c.mission, session.account, "first sign-in", new.address)
            else:
                c.sessions.end_account(session.account, keep=new)
            return Changed(token, new, shown)

        return await self.db.run(run)

    async def _changed(self, session: Session, change: Callable[[Conns], None]) -> Changed:
        def run(c: Conns) -> Changed:
            change(c)
            token, new = c.sessions.advance(session, session.stage)
            c.sessions.end_account(session.account, keep=new)
            return Changed(token, new)

        return await self.db.run(run)

