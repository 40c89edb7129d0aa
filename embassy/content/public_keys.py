"""``/.well-known/embassy-keys.json``: the mission's public keys, in the form anyone can check statements with.

The document (JSON)::

    {"format": "embassy-keys", "version": 1, "mission": "...", "statement_key_id": "<current>",
     "signing_keys": [{"id", "algorithm": "ed25519", "public": "<base64>", "created",
                       "valid_from", "valid_until": null | "<ISO 8601>"}, ...],
     "inbox_keys": [{"id", "algorithm": "x25519", "public", "created"}],
     "signature": {"algorithm": "ed25519", "key_id": "<current>", "value": "<base64>"}}

``signing_keys`` are the keys that sign statements, the current one first (``valid_until`` null),
then every earlier one with the period it signed in; an older keyring's snapshot-signing key, which
signed statements before statement keys existed, is among the earlier ones. ``signature`` is the
current statement key's over ``b"virtual-embassy/keys/v1\\n" || canonical_json(the rest)``, made by
the serving process that holds that key: whoever trusts the current key can tell that the list
of earlier keys and their periods is the mission's own. Documents without it (older versions) are
accepted as they are.
"""

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from embassy.content.errors import KeysDocumentError, StatementError
from embassy.content.statements import TrustedKey
from keys.encoding import b64d, b64e, canonical_json
from keys.statement_keys import ServingKeys, StatementKey

KEYS_FORMAT = "embassy-keys"
KEYS_DOMAIN = b"virtual-embassy/keys/v1\n"


def trusted(keys: Iterable[StatementKey]) -> dict[str, TrustedKey]:
    """Statement keys (from a keyring) as a verifier trusts them."""
    return {k.id: TrustedKey(k.public, k.retired) for k in keys}


def keys_document(mission: str, keys: ServingKeys) -> bytes:
    """The document, signed with the current statement key of ``keys``."""
    ordered = sorted(keys.statement_keys, key=lambda k: (k.current, k.created), reverse=True)
    doc: dict[str, Any] = {
        "format": KEYS_FORMAT,
        "version": 1,
        "mission": mission,
        "statement_key_id": keys.statement_key_id,
        "signing_keys": [
            {
                "id": k.id,
                "algorithm": "ed25519",
                "public": b64e(k.public),
                "created": k.created,
                "valid_from": k.created,
                "valid_until": k.retired,
            }
            for k in ordered
        ],
        "inbox_keys": [
            {
                "id": keys.inbox_key_id,
                "algorithm": "x25519",
                "public": b64e(keys.inbox_public),
                "created": keys.inbox_created,
            }
        ]
        if keys.inbox_public is not None
        else [],
    }
    doc["signature"] = _sign(doc, keys.statement_signing_key(), keys.statement_key_id)
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def _sign(doc: dict[str, Any], key: SigningKey, key_id: str) -> dict[str, str]:
    value = key.sign(KEYS_DOMAIN + canonical_json(doc)).signature
    return {"algorithm": "ed25519", "key_id": key_id, "value": b64e(value)}


def trusted_keys(document: Any) -> dict[str, TrustedKey]:
    """The statement keys a downloaded document lists. Raises :class:`KeysDocumentError` when it is
    not such a document, :class:`StatementError` when its own signature does not verify."""
    try:
        if document.get("format", KEYS_FORMAT) != KEYS_FORMAT:
            raise KeysDocumentError(f"format {document.get('format')!r} is not {KEYS_FORMAT!r}")
        found = {
            str(k["id"]): TrustedKey(
                base64.b64decode(k["public"], validate=True),
                None if k.get("valid_until") is None else str(k["valid_until"]),
            )
            for k in document["signing_keys"]
        }
    except (AttributeError, KeyError, TypeError, binascii.Error) as e:
        raise KeysDocumentError(f"not an embassy-keys.json document ({e})") from e
    if "signature" in document:
        _check_signature(document, found)
    return found


def _check_signature(document: dict[str, Any], found: dict[str, TrustedKey]) -> None:
    sig = document["signature"]
    key_id = sig.get("key_id") if isinstance(sig, dict) else None
    key = found.get(str(key_id))
    if key is None or key.valid_until is not None or key_id != document.get("statement_key_id"):
        raise StatementError("the keys document is not signed by its own current statement key")
    rest = {k: v for k, v in document.items() if k != "signature"}
    try:
        VerifyKey(key.public).verify(KEYS_DOMAIN + canonical_json(rest), b64d(str(sig.get("value", ""))))
    except (BadSignatureError, ValueError) as e:
        raise StatementError("the keys document's own signature does not verify: it was altered") from e
