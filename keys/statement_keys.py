"""The statement-signing keys: the mission's Ed25519 keys for published statements, and their history.

They are separate from the snapshot-signing key so that the processes that answer the internet can
sign statements without holding anything that signs a snapshot or decrypts a registry: a worker
gets :class:`ServingKeys` (this key's private half, public keys, nothing else).

One key is current (``retired`` is None) and signs; earlier ones are kept as public halves with
their validity (``created`` to ``retired``), so that statements they signed stay verifiable. A
retired key's private half is dropped: nobody can sign with it again. A keyring made before
statement keys existed signed statements with its snapshot-signing key; the first statement key
it gets lists that key as an earlier statement key, valid until then.
"""

from dataclasses import dataclass, field, replace
from typing import Any

from nacl.signing import SigningKey

from keys.derive import public_key_id
from keys.encoding import b64d, b64e
from keys.wrap import wrap

ALGORITHM = "ed25519"


def wrap_label(key_id: str) -> str:
    return f"statement:{key_id}"


@dataclass(frozen=True, slots=True)
class StatementKey:
    id: str
    public: bytes
    created: str  # valid from (ISO 8601 UTC)
    retired: str | None = None  # valid until; None while it is the current key
    wrapped_private: bytes | None = field(default=None, repr=False)  # the current key's only

    def __post_init__(self) -> None:
        if public_key_id(self.public) != self.id:
            raise ValueError(f"statement key id {self.id} does not match its public key")
        if self.retired is not None and self.wrapped_private is not None:
            raise ValueError(f"statement key {self.id} is retired but keeps its private half")

    @property
    def current(self) -> bool:
        return self.retired is None

    def public_only(self) -> "StatementKey":
        return replace(self, wrapped_private=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "algorithm": ALGORITHM,
            "public": b64e(self.public),
            "created": self.created,
            "retired": self.retired,
            "wrapped_private": b64e(self.wrapped_private) if self.wrapped_private is not None else None,
        }

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> "StatementKey":
        if v.get("algorithm") != ALGORITHM:
            raise ValueError(f"statement key algorithm {v.get('algorithm')!r} is not {ALGORITHM}")
        wrapped = v.get("wrapped_private")
        return cls(
            id=str(v["id"]),
            public=b64d(v["public"]),
            created=str(v["created"]),
            retired=None if v.get("retired") is None else str(v["retired"]),
            wrapped_private=None if wrapped is None else b64d(wrapped),
        )


def check_history(keys: tuple[StatementKey, ...]) -> None:
    """A keyring's statement keys: ids unique, at most one current, the last, with its private half.
    Raises ValueError."""
    if len({k.id for k in keys}) != len(keys):
        raise ValueError("a statement key is listed twice")
    current = [k for k in keys if k.current]
    if len(current) > 1 or (current and keys[-1] is not current[0]):
        raise ValueError("statement keys: only the last one may be current")
    if current and current[0].wrapped_private is None:
        raise ValueError(f"the current statement key {current[0].id} has no private half")


@dataclass(frozen=True, slots=True)
class ServingKeys:
    """Everything a process that answers the internet holds: the current statement-signing key
    and public keys. Nothing in it decrypts a registry, signs a snapshot or opens the keyring."""

    statement_seed: bytes = field(repr=False)
    statement_key_id: str
    statement_keys: tuple[StatementKey, ...]  # every one, current last, public halves only
    # The inbox's public key (from the mission database; None until `embassy inbox init`).
    inbox_key_id: str | None = None
    inbox_public: bytes | None = None
    inbox_created: str | None = None

    def __post_init__(self) -> None:
        if any(k.wrapped_private is not None for k in self.statement_keys):
            raise ValueError("serving keys carry public halves of the statement keys only")
        if public_key_id(bytes(SigningKey(self.statement_seed).verify_key)) != self.statement_key_id:
            raise ValueError("the statement seed does not belong to the statement key id")

    def statement_signing_key(self) -> SigningKey:
        return SigningKey(self.statement_seed)


def new_statement_key(kek: bytes, now: str) -> StatementKey:
    """A fresh current statement key, its private half wrapped under ``kek``."""
    key = SigningKey.generate()
    public = bytes(key.verify_key)
    key_id = public_key_id(public)
    return StatementKey(key_id, public, now, None, wrap(kek, bytes(key), wrap_label(key_id)))


def with_new_key(
    history: tuple[StatementKey, ...], kek: bytes, now: str, legacy: StatementKey | None
) -> tuple[StatementKey, ...]:
    """``history`` with its current key retired now (its private half dropped) and a new current key.

    ``legacy``, the snapshot-signing key's public half, starts the history of a keyring that had no
    statement key: it signed the statements published before, so it stays listed, valid until now.
    """
    earlier = tuple(replace(k, retired=now, wrapped_private=None) if k.current else k for k in history)
    if not earlier and legacy is not None:
        earlier = (replace(legacy, retired=now, wrapped_private=None),)
    return (*earlier, new_statement_key(kek, now))
