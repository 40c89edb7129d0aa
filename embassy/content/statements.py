"""Signed statements: what the mission publishes, in a form anyone can check offline.

A statement is a JSON object; its **signed bytes** are

    b"virtual-embassy/statement/v1\\n" || canonical_json(statement)

where canonical JSON is UTF-8 with sorted keys and no insignificant whitespace (no floats are ever
used). The domain prefix keeps a statement signature from being valid for anything else the same
Ed25519 key signs (snapshot manifests). The statement's id is the first 16 hex digits of the
SHA-256 of its canonical JSON, so a changed statement is a new statement with a new id.

The published document (``/statements/{id}.json``) is::

    {"statement": {...},
     "signature": {"algorithm": "ed25519", "key_id": "<16 hex>", "value": "<base64>"}}

and the statement object holds ``type`` ("embassy-statement"), ``version`` (1), ``id``-free fields:
``mission``, ``kind`` ("news" | "page" | "alert" | "withdrawal"), ``lang``, ``slug``, ``path``,
``title``, ``summary``, ``body_html``, ``published`` (ISO 8601 UTC) and ``key_id`` (the signing key,
bound into the bytes). Editions published through the workflow add ``item``, ``edition`` (its number
in the language's line), ``major``, ``change_note``, ``previous`` (the statement of the edition it
replaced, when there was one) and, for alerts, ``severity``, ``countries`` and ``expires``. A
withdrawal is a statement of its own: kind "withdrawal", ``withdraws`` (the withdrawn edition's
statement id), ``reason``, and ``published`` the time of the withdrawal. Unknown fields are kept and
signed, so newer writers stay verifiable by older readers.

Statements are signed with the mission's statement-signing key (never the snapshot-signing key,
which only older keyrings used for statements too). A verifier trusts a set of keys, each with the
end of its validity: a key retired at T verifies statements published up to T, and refuses one
that claims a later publication (it was signed after the key was retired, or by whoever took it).
A statement is signed when it is published.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from embassy.content.errors import StatementError
from keys.encoding import b64d, b64e, canonical_json

STATEMENT_TYPE = "embassy-statement"
STATEMENT_VERSION = 1
DOMAIN = b"virtual-embassy/statement/v1\n"
REQUIRED = ("type", "version", "mission", "kind", "lang", "slug", "path", "title", "published", "key_id")


@dataclass(frozen=True, slots=True)
class SignedStatement:
    id: str
    payload: bytes = field(repr=False)  # canonical JSON of the statement
    signature: bytes = field(repr=False)
    key_id: str

    def document(self) -> dict[str, Any]:
        return {
            "statement": json.loads(self.payload),
            "signature": {"algorithm": "ed25519", "key_id": self.key_id, "value": b64e(self.signature)},
        }


@dataclass(frozen=True, slots=True)
class Signer:
    """What publishing needs to sign: the mission's name and its statement-signing key."""

    mission: str
    key: SigningKey = field(repr=False)
    key_id: str

    def sign(self, fields: Mapping[str, Any]) -> SignedStatement:
        return sign_statement({**fields, "mission": self.mission}, self.key, self.key_id)


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """An Ed25519 public key that signs the mission's statements; ``valid_until`` None while current."""

    public: bytes
    valid_until: str | None = None


def statement_id(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def sign_statement(fields: Mapping[str, Any], key: SigningKey, key_id: str) -> SignedStatement:
    """Sign ``fields`` (without type/version/key_id, which are set here)."""
    statement = {**fields, "type": STATEMENT_TYPE, "version": STATEMENT_VERSION, "key_id": key_id}
    _check_fields(statement)
    payload = canonical_json(statement)
    signature = key.sign(DOMAIN + payload).signature
    return SignedStatement(statement_id(payload), payload, signature, key_id)


def verify_document(document: Any, public_keys: Mapping[str, TrustedKey]) -> dict[str, Any]:
    """Check a published statement document against ``{key_id: trusted key}``.

    Returns the statement. Raises :class:`StatementError` when the document is malformed, names
    a key not in ``public_keys``, its signature does not verify, or it claims a publication time
    after its key was retired.
    """
    if not isinstance(document, dict) or not isinstance(document.get("statement"), dict):
        raise StatementError('not a statement document: expected {"statement": {...}, "signature": {...}}')
    statement = document["statement"]
    sig = document.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != "ed25519":
        raise StatementError("the signature is missing or not ed25519")
    _check_fields(statement)
    key_id = sig.get("key_id")
    if key_id != statement["key_id"]:
        raise StatementError("the signature's key_id differs from the statement's key_id")
    if key_id not in public_keys:
        raise StatementError(f"signed by key {key_id!r}, which is not among the mission's public keys")
    try:
        signature = b64d(str(sig.get("value", "")))
    except ValueError as e:
        raise StatementError("the signature value is not base64") from e
    trusted = public_keys[key_id]
    try:
        VerifyKey(trusted.public).verify(DOMAIN + canonical_json(statement), signature)
    except (BadSignatureError, ValueError) as e:
        raise StatementError(f"the signature does not verify with key {key_id}: the statement was altered") from e
    if trusted.valid_until is not None and _time(statement["published"]) > _time(trusted.valid_until):
        raise StatementError(
            f"signed by key {key_id}, retired at {trusted.valid_until}, but claims to be published at "
            f"{statement['published']}, after that"
        )
    return dict(statement)


def _time(text: Any) -> datetime:
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError as e:
        raise StatementError(f"{text!r} is not an ISO 8601 time") from e
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _check_fields(statement: Mapping[str, Any]) -> None:
    missing = [k for k in REQUIRED if k not in statement]
    if missing:
        raise StatementError("statement lacks " + ", ".join(missing))
    if statement["type"] != STATEMENT_TYPE or statement["version"] != STATEMENT_VERSION:
        raise StatementError(f"unsupported statement type/version {statement['type']!r}/{statement['version']!r}")
    for k, v in statement.items():
        if isinstance(v, float):
            raise StatementError(f"statement field {k!r} is a float; canonical JSON has no floats")
