"""Errors of the key hierarchy. Every message says what failed and never carries key material."""


class KeyringError(Exception):
    """Root of every error raised by the ``keys`` package."""


class WrongPassphraseError(KeyringError):
    """The keyring did not open: the passphrase is wrong or the file was damaged or edited."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("wrong passphrase or damaged keyring" + (f" ({detail})" if detail else ""))


class CustodyError(KeyringError):
    """Custodian shares could not be combined into the master key."""


class BundleError(KeyringError):
    """A key bundle from a store is malformed or does not belong to this master key."""


class UnknownKeyError(KeyringError):
    """A key id that the keyring does not hold (a registry or data key never created here)."""
