"""Custody of the mission's inbox key: the X25519 key pair contact messages are sealed to.

The server can seal to the inbox key (its public half is public) but never open what it sealed:
the private half exists only

- wrapped for each consular officer (a *grant*): sealed (keys/sealing.py) to the officer's own
  X25519 *officer key*, whose private half is wrapped under a key derived from the officer's
  password with Argon2id. Only the officer's sign-in, which gives the password, opens it;
- wrapped for the *inbox recovery key*, an X25519 key pair whose private half exists only as
  SLIP-39 shares held by custodians (never on the server, never in the keyring), for when no
  officer can open the inbox any more.

Granting needs only the grantee's officer *public* key and the inbox private key of whoever grants
(an officer signed in, or custodians recovering): an officer added later gets access from one who
has it, without telling anyone their password. Every wrap is bound by its label to the inbox key
and to whom it is for, so a wrap copied into another officer's row does not open.

Strength (docs/inbox.md): a copy of the server's disk, its database, its backups abroad and the
keyring's passphrase together open no message. To read one, an attacker needs an officer's
password (then an offline Argon2id guess per password tried: 64 MiB, 3 passes; passwords are
12+ characters judged by zxcvbn, one-time passwords ~124 random bits), or enough custodians'
shares, or a running officer session (its key lives encrypted in the session record, under a key
only the officer's browser holds).

This module does no I/O: keys and wrapped bytes in, keys and wrapped bytes out.
"""

import json
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.public import PrivateKey

from keys.custody import ParsedShare, ShareKind, ShareText, combine_shares, register_kind, split_secret
from keys.derive import public_key_id
from keys.errors import KeyringError
from keys.kdf import KdfParams
from keys.sealing import SealError, open_envelope, seal

# An officer key is unlocked at every sign-in, beside the password check (~0.14 s): 64 MiB and 3
# passes cost about as much again, on the staff area's bounded password pool.
OFFICER_KDF = KdfParams(opslimit=3, memlimit=64 * 1024 * 1024)

RECOVERY_SHARES = register_kind(
    ShareKind(
        "inbox recovery key",
        "-----BEGIN EMBASSY INBOX RECOVERY KEY SHARE-----",
        "-----END EMBASSY INBOX RECOVERY KEY SHARE-----",
        lambda private: public_key_id(bytes(PrivateKey(private).public_key)),
    )
)


class InboxKeyError(KeyringError):
    """An inbox key, officer key or grant could not be made or opened."""


class WrongOfficerPasswordError(InboxKeyError):
    """The officer key did not open with this password (or its wrapped form was altered)."""


def grant_label(inbox_key_id: str, holder: str) -> str:
    """What a wrap of inbox key ``inbox_key_id`` for ``holder`` (``officer:<name>``, ``recovery``) is."""
    return f"inbox-grant:{inbox_key_id}:{holder}"


@dataclass(frozen=True, slots=True)
class InboxKeyPair:
    public: bytes
    private: bytes = field(repr=False)

    @property
    def id(self) -> str:
        return public_key_id(self.public)

    @classmethod
    def generate(cls) -> "InboxKeyPair":
        key = PrivateKey.generate()
        return cls(bytes(key.public_key), bytes(key))

    @classmethod
    def from_private(cls, private: bytes) -> "InboxKeyPair":
        return cls(bytes(PrivateKey(private).public_key), private)


def wrap_for(holder_public: bytes, inbox: InboxKeyPair, holder: str) -> bytes:
    """Inbox key ``inbox``'s private half sealed to ``holder_public``, for ``holder``."""
    return seal(inbox.private, [holder_public], grant_label(inbox.id, holder))


def unwrap(wrapped: bytes, holder_private: bytes, inbox_key_id: str, holder: str) -> InboxKeyPair:
    """The inbox key a grant holds; raises :class:`InboxKeyError` when it is not this holder's."""
    try:
        pair = InboxKeyPair.from_private(open_envelope(wrapped, PrivateKey(holder_private), grant_label(inbox_key_id, holder)))
    except SealError as e:
        raise InboxKeyError(f"the inbox key grant for {holder} does not open: {e}") from e
    if pair.id != inbox_key_id:
        raise InboxKeyError(f"the grant for {holder} holds another inbox key than {inbox_key_id}")
    return pair


# -- officer keys ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfficerKey:
    """An officer's X25519 key: the public half in clear, the private half under their password."""

    public: bytes
    wrapped: bytes = field(repr=False)  # nonce || AES-256-GCM(Argon2id(password), private)
    kdf: str  # JSON: {"alg", "opslimit", "memlimit", "salt"}, kept beside what it protects

    @property
    def id(self) -> str:
        return public_key_id(self.public)


def _officer_label(public: bytes) -> bytes:
    return f"officer-key:{public_key_id(public)}".encode()


def wrap_officer_key(private: bytes, password: str, params: KdfParams = OFFICER_KDF) -> OfficerKey:
    """``private`` wrapped under ``password`` (runs Argon2id: call it on a pool, never the event loop)."""
    salt = os.urandom(16)
    public = bytes(PrivateKey(private).public_key)
    nonce = os.urandom(12)
    kek = params.derive(password.encode(), salt)
    wrapped = nonce + AESGCM(kek).encrypt(nonce, private, _officer_label(public))
    return OfficerKey(public, wrapped, json.dumps(params.to_json(salt), sort_keys=True))


def new_officer_key(password: str, params: KdfParams = OFFICER_KDF) -> tuple[OfficerKey, bytes]:
    """A new officer key wrapped under ``password``, and its private half."""
    private = bytes(PrivateKey.generate())
    return wrap_officer_key(private, password, params), private


def unlock_officer_key(key: OfficerKey, password: str) -> bytes:
    """The officer key's private half; raises :class:`WrongOfficerPasswordError`."""
    try:
        params, salt = KdfParams.from_json(json.loads(key.kdf))
    except (ValueError, KeyringError) as e:
        raise WrongOfficerPasswordError("the officer key's parameters are unreadable") from e
    kek = params.derive(password.encode(), salt)
    try:
        private = AESGCM(kek).decrypt(key.wrapped[:12], key.wrapped[12:], _officer_label(key.public))
    except (InvalidTag, ValueError) as e:
        raise WrongOfficerPasswordError("the officer key does not open with this password") from e
    if bytes(PrivateKey(private).public_key) != key.public:
        raise WrongOfficerPasswordError("the officer key's halves do not belong together")
    return private


# -- the recovery key --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoverySplit:
    public: bytes
    shares: tuple[ShareText, ...]

    @property
    def id(self) -> str:
        return public_key_id(self.public)


def new_recovery_key(threshold: int, shares: int, mission: str) -> RecoverySplit:
    """A new recovery key pair: its public half, and its private half as share texts only."""
    private = PrivateKey.generate()
    texts = split_secret(bytes(private), threshold, shares, mission, RECOVERY_SHARES)
    return RecoverySplit(bytes(private.public_key), tuple(texts))


def recovery_key_from_shares(shares: list[ParsedShare], expected_public: bytes) -> bytes:
    """The recovery key's private half from enough shares; raises CustodyError or InboxKeyError."""
    private = combine_shares(shares, RECOVERY_SHARES)
    if bytes(PrivateKey(private).public_key) != expected_public:
        raise InboxKeyError(
            f"the shares recover recovery key {public_key_id(bytes(PrivateKey(private).public_key))}, not this "
            f"inbox's {public_key_id(expected_public)}"
        )
    return private

