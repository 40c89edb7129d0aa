"""Wrapping secrets under a key-encryption key with AES-256-GCM.

Each wrapped value carries a label (what it is and whose it is) as associated data, so a wrapped key
cannot be moved into another slot of the keyring or bundle without failing authentication. Nonces
are random 96-bit values: a key-encryption key wraps a few hundred values in its life, far below
the 2^32 messages per key within which random GCM nonces are safe.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.errors import BundleError

NONCE_BYTES = 12


def wrap(kek: bytes, secret: bytes, label: str) -> bytes:
    """Encrypt ``secret`` under ``kek``: nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, secret, label.encode())


def unwrap(kek: bytes, wrapped: bytes, label: str) -> bytes:
    """Reverse :func:`wrap`; raises :class:`BundleError` when the value is not ours or was altered."""
    if len(wrapped) < NONCE_BYTES + 16:
        raise BundleError(f"wrapped key {label!r} is truncated")
    try:
        return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], label.encode())
    except InvalidTag as e:
        raise BundleError(f"wrapped key {label!r} does not open with this master key") from e
