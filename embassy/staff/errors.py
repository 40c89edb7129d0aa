"""The staff package's errors: one root, mapped to exit codes in the CLI and statuses in the web."""


class StaffError(Exception):
    """A staff account, factor, session or token could not be created, changed or used."""


class NoSuchAccountError(StaffError):
    """No staff account has this name."""


class AccountExistsError(StaffError):
    """A staff account with this name exists already."""


class InvalidNameError(StaffError):
    """Not a staff account name."""


class RoleError(StaffError):
    """An unknown role, or a scope the account does not hold."""


class WeakPasswordError(StaffError):
    """A new password that the policy refuses; ``reason`` is a key for the page's words."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class LastFactorError(StaffError):
    """Removing this factor would leave the account with no second factor."""


class PasswordPoolBusyError(StaffError):
    """Too many password checks are waiting already; the client should try again shortly."""


class PasskeyError(StaffError):
    """A passkey ceremony's response did not verify (or passkeys cannot work at this address)."""
