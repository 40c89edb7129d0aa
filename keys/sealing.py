"""Sealed envelopes: data that only the holders of some X25519 private keys can open.

What the contact channels store (a message, its contact details, an attachment, a staff reply, a
wrapped inbox key) is sealed this way the moment it arrives, with public keys only, so the server
that seals it cannot open it again. It is libsodium's sealed box (X25519 with an ephemeral key,
XSalsa20-Poly1305) for a fresh 256-bit content key, once per recipient, and AES-256-GCM under that
key for the data: the same guarantee as one sealed box over the data, but one copy of a large
attachment serves several recipients, and bulk data goes at AES-GCM's speed (NaCl's stream cipher
in pynacl is ~10x slower, NOTES).

Byte layout (all integers big-endian)::

    "ev1" | u8 n | n x (recipient id: 8 bytes | sealed content key: 80 bytes) | nonce: 12 | ciphertext || tag: 16

A recipient id is the first 8 bytes of SHA-256 of its public key: it picks which sealed key to try,
and says nothing a store or a thief could use (the public keys are public). The associated data of
the AES-GCM ciphertext is ``DOMAIN || label || header`` (everything before the nonce): the label
names what the envelope is and whose (``case:<id>:message``, ``inbox-grant:<key>:<account>``), so
an envelope moved into another row or slot, or given another recipient list, fails to open. The
content key is random and used once, so the GCM nonce is random too and never repeats under it.

Errors: :class:`SealError` for an envelope that is malformed, not addressed to the key, or altered.
"""

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from keys.errors import KeyringError

MAGIC = b"ev1"
DOMAIN = b"virtual-embassy/envelope/v1\n"
RECIPIENT_ID_BYTES = 8
SEALED_KEY_BYTES = 32 + 48  # ephemeral public key, content key, Poly1305 tag
NONCE_BYTES = 12
MAX_RECIPIENTS = 16
OVERHEAD_PER_RECIPIENT = RECIPIENT_ID_BYTES + SEALED_KEY_BYTES


class SealError(KeyringError):
    """An envelope that does not open with this key (not addressed to it, altered, or malformed)."""


def recipient_id(public: bytes) -> bytes:
    return hashlib.sha256(public).digest()[:RECIPIENT_ID_BYTES]


def seal(data: bytes, recipients: Sequence[bytes], label: str) -> bytes:
    """``data`` sealed to every public key in ``recipients`` (32-byte X25519 keys), bound to ``label``."""
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise SealError(f"an envelope has 1 to {MAX_RECIPIENTS} recipients, not {len(recipients)}")
    content_key = AESGCM.generate_key(bit_length=256)
    header = bytearray(MAGIC + bytes([len(recipients)]))
    for public in recipients:
        if len(public) != 32:
            raise SealError("a recipient's public key must be 32 bytes")
        header += recipient_id(public) + SealedBox(PublicKey(public)).encrypt(content_key)
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(content_key).encrypt(nonce, data, DOMAIN + label.encode() + bytes(header))
    return bytes(header) + nonce + body


def open_envelope(envelope: bytes, private: PrivateKey, label: str) -> bytes:
    """The data of ``envelope`` for the holder of ``private``; raises :class:`SealError`."""
    if len(envelope) < 4 or envelope[:3] != MAGIC:
        raise SealError("not a sealed envelope")
    count = envelope[3]
    end = 4 + count * OVERHEAD_PER_RECIPIENT
    if not 1 <= count <= MAX_RECIPIENTS or len(envelope) < end + NONCE_BYTES + 16:
        raise SealError("a sealed envelope that is cut off")
    wanted = recipient_id(bytes(private.public_key))
    header = envelope[:end]
    for i in range(count):
        at = 4 + i * OVERHEAD_PER_RECIPIENT
        if envelope[at : at + RECIPIENT_ID_BYTES] != wanted:
            continue
        try:
            content_key = SealedBox(private).decrypt(envelope[at + RECIPIENT_ID_BYTES : at + OVERHEAD_PER_RECIPIENT])
            nonce = envelope[end : end + NONCE_BYTES]
            return AESGCM(content_key).decrypt(nonce, envelope[end + NONCE_BYTES :], DOMAIN + label.encode() + header)
        except (CryptoError, InvalidTag, ValueError) as e:
            raise SealError(f"the envelope {label!r} was altered or is not what it claims to be") from e
    raise SealError(f"the envelope {label!r} is not sealed to this key")


def recipients_of(envelope: bytes) -> list[bytes]:
    """The recipient ids an envelope names (for telling which key opens it, without opening it)."""
    if len(envelope) < 4 or envelope[:3] != MAGIC:
        raise SealError("not a sealed envelope")
    count = envelope[3]
    return [envelope[4 + i * OVERHEAD_PER_RECIPIENT :][:RECIPIENT_ID_BYTES] for i in range(count)]
