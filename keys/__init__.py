"""The key hierarchy of the data embassy.

A passphrase-sealed keyring holds the master key; every other secret (per-registry data keys and
chunk-id keys, the Ed25519 signing key, the X25519 inbox key) is wrapped by a key-encryption key
derived from the master key, so the same wrapped values can be published in a key bundle in every
store. The master key itself leaves the keyring only as Shamir shares (SLIP-39) for custodians.

This package does no I/O: bytes in, bytes and models out.
"""

from keys.errors import (
    BundleError,
    CustodyError,
    KeyringError,
    WrongPassphraseError,
)
from keys.kdf import KdfParams
from keys.keyring import DataKey, Keyring, PublicKey, RegistryKeys

__all__ = [
    "BundleError",
    "CustodyError",
    "DataKey",
    "KdfParams",
    "Keyring",
    "KeyringError",
    "PublicKey",
    "RegistryKeys",
    "WrongPassphraseError",
]
