"""The keyring: the master key and every key wrapped by it, sealed with a passphrase.

Layout of the plaintext (canonical JSON, see :meth:`Keyring._public_body`): the master key, the
snapshot-signing key pair with its private half wrapped by the master key's key-encryption key, the statement-signing keys (``keys/statement_keys.py``: the current one wrapped
likewise, earlier ones as public halves with their validity), and per registry a chunk-id key
(stable for the registry's life, so dedup survives key rotation) and its data keys (one active, any
number retired, all still able to decrypt what they encrypted).

The mission's inbox key is not here: nothing that opens the keyring may open a contact message.
Its custody is the inbox's own (keys/inbox_keys.py, in the mission database). A keyring from
before held an inbox key pair (``"inbox"``) to which no message was ever sealed; it is read and
dropped (:attr:`Keyring.legacy_inbox_id` names it until the keyring is next saved).

The sealed file is JSON ``{"header": ..., "ciphertext": ...}``: the header names the KDF with its
parameters and salt and the AEAD nonce, and is itself the associated data, so editing any of it (or
truncating the file) makes the keyring fail to open exactly as a wrong passphrase does.
"""

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.signing import SigningKey

from keys.derive import MASTER_KEY_BYTES, master_key_id, public_key_id, subkey
from keys.encoding import b64d, b64e, canonical_json
from keys.errors import BundleError, UnknownKeyError, WrongPassphraseError
from keys.kdf import SALT_BYTES, KdfParams
from keys.statement_keys import ServingKeys, StatementKey, check_history, new_statement_key, with_new_key, wrap_label
from keys.wrap import unwrap, wrap

KEYRING_FORMAT = "embassy-keyring"
BUNDLE_FORMAT = "embassy-key-bundle"
VERSION = 1
ACTIVE = "active"
RETIRED = "retired"


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class DataKey:
    """One AES-256-GCM key of a registry. Retired keys still decrypt; only the active one encrypts."""

    id: str
    created: str
    state: str
    wrapped: bytes = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created, "state": self.state, "wrapped": b64e(self.wrapped)}

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> "DataKey":
        if v["state"] not in (ACTIVE, RETIRED):
            raise ValueError(f"unknown data key state {v['state']!r}")
        return cls(id=str(v["id"]), created=str(v["created"]), state=v["state"], wrapped=b64d(v["wrapped"]))


@dataclass(frozen=True, slots=True)
class RegistryKeys:
    registry: str
    wrapped_id_key: bytes = field(repr=False)
    data_keys: tuple[DataKey, ...]

    @property
    def active(self) -> DataKey:
        for key in self.data_keys:
            if key.state == ACTIVE:
                return key
        raise UnknownKeyError(f"registry {self.registry!r} has no active data key")

    def to_json(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "id_key": b64e(self.wrapped_id_key),
            "data_keys": [k.to_json() for k in self.data_keys],
        }

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> "RegistryKeys":
        return cls(
            registry=str(v["registry"]),
            wrapped_id_key=b64d(v["id_key"]),
            data_keys=tuple(DataKey.from_json(k) for k in v["data_keys"]),
        )


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A key pair whose public half is published and whose private half stays wrapped."""

    id: str
    algorithm: str
    public: bytes
    created: str
    wrapped_private: bytes = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "algorithm": self.algorithm,
            "public": b64e(self.public),
            "created": self.created,
            "wrapped_private": b64e(self.wrapped_private),
        }

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> "PublicKey":
        public = b64d(v["public"])
        if public_key_id(public) != v["id"]:
            raise ValueError("public key id does not match the key")
        return cls(
            id=str(v["id"]),
            algorithm=str(v["algorithm"]),
            public=public,
            created=str(v["created"]),
            wrapped_private=b64d(v["wrapped_private"]),
        )


@dataclass(frozen=True, slots=True)
class Custody:
    """How the master key was last split among custodians (never the shares themselves)."""

    threshold: int
    shares: int
    created: str

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "shares": self.shares, "created": self.created}

    @classmethod
    def from_json(cls, v: dict[str, Any] | None) -> "Custody | None":
        if v is None:
            return None
        return cls(threshold=int(v["threshold"]), shares=int(v["shares"]), created=str(v["created"]))


@dataclass(frozen=True, slots=True)
class Keyring:
    master_key: bytes = field(repr=False)
    created: str
    signing: PublicKey
    registries: tuple[RegistryKeys, ...] = ()
    custody: Custody | None = None
    # Bumped whenever anything a fresh machine needs changes, so stores get a new key bundle.
    bundle_seq: int = 1
    # Statement-signing keys, the current one last. Empty in a keyring made before they existed,
    # whose statements the snapshot-signing key signed (see with_statement_key).
    statement_keys: tuple[StatementKey, ...] = ()
    # The id of the inbox key an older keyring held (never used: see the module's docstring); None
    # once this keyring is saved without it.
    legacy_inbox_id: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_history(self.statement_keys)

    # -- creation and derived values -------------------------------------------------------------

    @classmethod
    def create(cls, registries: Iterable[str] = ()) -> "Keyring":
        master = secrets.token_bytes(MASTER_KEY_BYTES)
        kek = subkey(master, "wrap")
        now = utc_now()
        signing = SigningKey.generate()
        sign_pub = bytes(signing.verify_key)
        sign_id = public_key_id(sign_pub)
        ring = cls(
            master_key=master,
            created=now,
            signing=PublicKey(sign_id, "ed25519", sign_pub, now, wrap(kek, bytes(signing), f"signing:{sign_id}")),
            statement_keys=(new_statement_key(kek, now),),
        )
        return ring.with_registries(registries)

    @property
    def master_key_id(self) -> str:
        return master_key_id(self.master_key)

    @property
    def _kek(self) -> bytes:
        return subkey(self.master_key, "wrap")

    def derived_key(self, purpose: str) -> bytes:
        """A subkey of the master key for a purpose outside this package (e.g. store naming, MACs)."""
        return subkey(self.master_key, purpose)

    # -- registries and rotation -----------------------------------------------------------------

    def registry(self, name: str) -> RegistryKeys:
        for reg in self.registries:
            if reg.registry == name:
                return reg
        raise UnknownKeyError(f"no keys for registry {name!r} in the keyring")

    def has_registry(self, name: str) -> bool:
        return any(r.registry == name for r in self.registries)

    def _new_data_key(self, registry: str) -> DataKey:
        key_id = secrets.token_hex(8)
        return DataKey(key_id, utc_now(), ACTIVE, wrap(self._kek, os.urandom(32), f"data-key:{registry}:{key_id}"))

    def with_registries(self, names: Iterable[str]) -> "Keyring":
        """This keyring with keys for every registry in ``names`` (existing ones untouched)."""
        added: list[RegistryKeys] = []
        for name in names:
            if not self.has_registry(name) and name not in (r.registry for r in added):
                id_key = wrap(self._kek, os.urandom(32), f"id-key:{name}")
                added.append(RegistryKeys(name, id_key, (self._new_data_key(name),)))
        if not added:
            return self
        return replace(self, registries=self.registries + tuple(added), bundle_seq=self.bundle_seq + 1)

    def rotated(self) -> "Keyring":
        """New active data keys for every registry; the old ones are retired but kept to decrypt."""
        regs = []
        for reg in self.registries:
            old = tuple(replace(k, state=RETIRED) for k in reg.data_keys)
            regs.append(replace(reg, data_keys=(*old, self._new_data_key(reg.registry))))
        return replace(self, registries=tuple(regs), bundle_seq=self.bundle_seq + 1)

    def with_custody(self, custody: Custody) -> "Keyring":
        return replace(self, custody=custody, bundle_seq=self.bundle_seq + 1)

    # -- statement-signing keys ------------------------------------------------------------------

    @property
    def statement(self) -> StatementKey | None:
        """The current statement-signing key; None in a keyring made before they existed."""
        current = [k for k in self.statement_keys if k.current]
        return current[0] if current else None

    def with_statement_key(self) -> "Keyring":
        """This keyring with a current statement key: itself when it has one, else migrated.

        Migrating lists the snapshot-signing key, which signed the statements published so far,
        as an earlier statement key valid until now, and makes a new current key."""
        return self if self.statement is not None else self.with_new_statement_key()

    def with_new_statement_key(self) -> "Keyring":
        """A new current statement key; the current one is retired now and its private half dropped."""
        legacy = StatementKey(self.signing.id, self.signing.public, self.signing.created)
        keys = with_new_key(self.statement_keys, self._kek, utc_now(), legacy)
        return replace(self, statement_keys=keys, bundle_seq=self.bundle_seq + 1)

    def statement_verification_keys(self) -> tuple[StatementKey, ...]:
        """Every key that has signed statements, public halves only, with their validity."""
        if not self.statement_keys:  # not migrated yet: the snapshot key signs statements
            return (StatementKey(self.signing.id, self.signing.public, self.signing.created),)
        return tuple(k.public_only() for k in self.statement_keys)

    def without_legacy_inbox(self) -> "Keyring":
        """This keyring without an older keyring's inbox key (bundles published from now on lack it)."""
        if self.legacy_inbox_id is None:
            return self
        return replace(self, legacy_inbox_id=None, bundle_seq=self.bundle_seq + 1)

    def serving_keys(self) -> ServingKeys:
        """What a serving worker may hold (the inbox's public key is the mission database's, added by
        the caller); raises :class:`UnknownKeyError` without a statement key."""
        current = self.statement
        if current is None:
            raise UnknownKeyError("the keyring has no statement-signing key yet")
        return ServingKeys(
            statement_seed=bytes(self.statement_signing_key()),
            statement_key_id=current.id,
            statement_keys=self.statement_verification_keys(),
        )

    # -- unwrapping ------------------------------------------------------------------------------

    def data_key(self, registry: str, key_id: str) -> bytes:
        for key in self.registry(registry).data_keys:
            if key.id == key_id:
                return unwrap(self._kek, key.wrapped, f"data-key:{registry}:{key_id}")
        raise UnknownKeyError(f"registry {registry!r} has no data key {key_id}")

    def active_data_key(self, registry: str) -> tuple[str, bytes]:
        key = self.registry(registry).active
        return key.id, self.data_key(registry, key.id)

    def id_key(self, registry: str) -> bytes:
        return unwrap(self._kek, self.registry(registry).wrapped_id_key, f"id-key:{registry}")

    def signing_key(self) -> SigningKey:
        return SigningKey(unwrap(self._kek, self.signing.wrapped_private, f"signing:{self.signing.id}"))

    def statement_signing_key(self) -> SigningKey:
        current = self.statement
        if current is None or current.wrapped_private is None:
            raise UnknownKeyError("the keyring has no statement-signing key yet")
        return SigningKey(unwrap(self._kek, current.wrapped_private, wrap_label(current.id)))

    def check_all_keys(self) -> None:
        """Unwrap every key once: proves the wrapped values belong to this master key."""
        self.signing_key()
        if self.statement is not None:
            self.statement_signing_key()
        for reg in self.registries:
            self.id_key(reg.registry)
            for key in reg.data_keys:
                self.data_key(reg.registry, key.id)

    # -- serialisation ---------------------------------------------------------------------------

    def _public_body(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "master_key_id": self.master_key_id,
            "created": self.created,
            "signing": self.signing.to_json(),
            "registries": [r.to_json() for r in self.registries],
            "custody": self.custody.to_json() if self.custody else None,
            "bundle_seq": self.bundle_seq,
            "statement_keys": [k.to_json() for k in self.statement_keys],
        }

    @classmethod
    def _from_body(cls, master_key: bytes, body: dict[str, Any]) -> "Keyring":
        return cls(
            master_key=master_key,
            created=str(body["created"]),
            signing=PublicKey.from_json(body["signing"]),
            registries=tuple(RegistryKeys.from_json(r) for r in body["registries"]),
            custody=Custody.from_json(body.get("custody")),
            bundle_seq=int(body["bundle_seq"]),
            statement_keys=tuple(StatementKey.from_json(k) for k in body.get("statement_keys", [])),
            legacy_inbox_id=str(body["inbox"]["id"]) if isinstance(body.get("inbox"), dict) else None,
        )

    def seal(self, passphrase: bytes, params: KdfParams | None = None) -> bytes:
        """The keyring file's bytes, sealed with a key derived from ``passphrase``."""
        params = params or KdfParams()
        salt = os.urandom(SALT_BYTES)
        nonce = os.urandom(12)
        header = {
            "format": KEYRING_FORMAT,
            "version": VERSION,
            "kdf": params.to_json(salt),
            "aead": "aes-256-gcm",
            "nonce": b64e(nonce),
        }
        plain = canonical_json({**self._public_body(), "master_key": b64e(self.master_key)})
        ciphertext = AESGCM(params.derive(passphrase, salt)).encrypt(nonce, plain, canonical_json(header))
        return json.dumps({"header": header, "ciphertext": b64e(ciphertext)}, indent=1).encode() + b"\n"

    @staticmethod
    def sealed_params(sealed: bytes) -> KdfParams:
        """The KDF parameters a sealed keyring was made with (so a re-seal can keep them)."""
        try:
            return KdfParams.from_json(json.loads(sealed)["header"]["kdf"])[0]
        except (ValueError, KeyError, TypeError) as e:
            raise WrongPassphraseError("unreadable keyring file") from e

    @classmethod
    def unseal(cls, sealed: bytes, passphrase: bytes) -> "Keyring":
        """Open a sealed keyring; any failure is :class:`WrongPassphraseError`, never a parse error."""
        try:
            doc = json.loads(sealed)
            header = doc["header"]
            if header["format"] != KEYRING_FORMAT or header["version"] != VERSION or header["aead"] != "aes-256-gcm":
                raise WrongPassphraseError("unknown keyring format")
            params, salt = KdfParams.from_json(header["kdf"])
            nonce = b64d(header["nonce"])
            ciphertext = b64d(doc["ciphertext"])
        except (ValueError, KeyError, TypeError) as e:
            raise WrongPassphraseError("unreadable keyring file") from e
        try:
            plain = AESGCM(params.derive(passphrase, salt)).decrypt(nonce, ciphertext, canonical_json(header))
        except (InvalidTag, ValueError) as e:
            raise WrongPassphraseError() from e
        body = json.loads(plain)
        master = b64d(body["master_key"])
        ring = cls._from_body(master, body)
        if ring.master_key_id != body["master_key_id"]:
            raise WrongPassphraseError("master key id mismatch")
        return ring

    # -- the key bundle published in every store --------------------------------------------------

    def bundle(self) -> bytes:
        """Everything a fresh machine needs besides the master key, sealed under a master-derived key.

        Only the master key id and the sequence number are readable (to pick the newest bundle);
        the rest - public keys, registry names, wrapped keys - is AES-256-GCM encrypted with the
        readable header as associated data, so a store can neither read nor alter any of it.
        """
        header = {
            "format": BUNDLE_FORMAT,
            "version": VERSION,
            "master_key_id": self.master_key_id,
            "bundle_seq": self.bundle_seq,
        }
        nonce = os.urandom(12)
        sealed = AESGCM(subkey(self.master_key, "bundle")).encrypt(
            nonce, canonical_json(self._public_body()), canonical_json(header)
        )
        doc = {"header": header, "nonce": b64e(nonce), "ciphertext": b64e(sealed)}
        return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"

    @staticmethod
    def bundle_header(data: bytes) -> dict[str, Any]:
        """The readable header of a bundle (seq, master key id): for choosing, not trusting."""
        try:
            header = json.loads(data)["header"]
            return {"master_key_id": str(header["master_key_id"]), "bundle_seq": int(header["bundle_seq"])}
        except (ValueError, KeyError, TypeError) as e:
            raise BundleError("key bundle is not valid JSON of the expected shape") from e

    @classmethod
    def from_bundle(cls, master_key: bytes, data: bytes) -> "Keyring":
        """Rebuild a keyring from the master key and a bundle; raises :class:`BundleError` if foreign."""
        try:
            doc = json.loads(data)
            header = doc["header"]
            nonce = b64d(doc["nonce"])
            sealed = b64d(doc["ciphertext"])
        except (ValueError, KeyError, TypeError) as e:
            raise BundleError("key bundle is not valid JSON of the expected shape") from e
        if not isinstance(header, dict) or header.get("format") != BUNDLE_FORMAT or header.get("version") != VERSION:
            raise BundleError("key bundle has an unknown format or version")
        if header.get("master_key_id") != master_key_id(master_key):
            raise BundleError(
                f"key bundle belongs to master key {header.get('master_key_id')}, not {master_key_id(master_key)}"
            )
        try:
            plain = AESGCM(subkey(master_key, "bundle")).decrypt(nonce, sealed, canonical_json(header))
        except (InvalidTag, ValueError) as e:
            raise BundleError("key bundle does not open with this master key (altered or foreign)") from e
        try:
            body = json.loads(plain)
            if body["bundle_seq"] != header["bundle_seq"]:
                raise ValueError("sequence number differs from the header's")
            ring = cls._from_body(master_key, body)
        except (ValueError, KeyError, TypeError) as e:
            raise BundleError(f"key bundle is malformed: {e}") from e
        ring.check_all_keys()
        return ring
