"""Subkeys derived from the master key with HKDF-SHA256, one per purpose.

Deriving (rather than storing) these keys means the master key alone - as recovered from the
custodians' shares - is enough to authenticate a store's key bundle and unwrap everything in it.
"""

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_BYTES = 32
_DOMAIN = b"virtual-embassy/v1/"


def subkey(master_key: bytes, purpose: str, length: int = 32) -> bytes:
    """The subkey of ``master_key`` for ``purpose`` (a fixed ASCII label)."""
    if len(master_key) != MASTER_KEY_BYTES:
        raise ValueError("master key must be 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=_DOMAIN + purpose.encode()).derive(master_key)


def master_key_id(master_key: bytes) -> str:
    """A public name for the master key: 16 hex digits of a derived value, which reveal nothing of it."""
    return subkey(master_key, "master-key-id", 8).hex()


def public_key_id(public_key: bytes) -> str:
    """A public name for a public key: 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]
