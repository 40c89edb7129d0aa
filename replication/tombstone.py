"""Signed records of snapshots that retention removed, so the chain can tell pruning from deletion.

When prune forgets snapshots it first writes, to every store, a tombstone naming them:

    "EMBFORG\\x01" || body_len (u32) || body (canonical JSON) || Ed25519 signature (64)
    body = {"format": 1, "registry_tag": ..., "time": ..., "forgotten": [snapshot ids]}

stored at ``r/<tag>/forgotten/<time>_<id>`` (id = BLAKE3 of the object). A snapshot whose
``previous`` is in no store is a broken chain unless a tombstone signed with the mission's key
names that previous snapshot: someone holding only a store's credentials cannot forge one.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from replication.crypto import object_id
from replication.errors import IntegrityError, SignatureError
from replication.layout import time_for_key

MAGIC = b"EMBFORG\x01"
_U32 = struct.Struct("<I")


def tombstones_prefix(tag: str) -> str:
    return f"r/{tag}/forgotten/"


def tombstone_key(tag: str, time: str, tomb_id: str) -> str:
    return f"{tombstones_prefix(tag)}{time_for_key(time)}_{tomb_id}"


@dataclass(frozen=True, slots=True)
class Tombstone:
    registry_tag: str
    time: str
    forgotten: tuple[str, ...]


def encode_tombstone(tomb: Tombstone, signing: SigningKey) -> bytes:
    body = json.dumps(
        {"format": 1, "registry_tag": tomb.registry_tag, "time": tomb.time, "forgotten": sorted(tomb.forgotten)},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    signed = MAGIC + _U32.pack(len(body)) + body
    return signed + signing.sign(signed).signature


def decode_tombstone(
    data: bytes, verify_key: VerifyKey, tag: str, what: str, expected_id: str | None = None
) -> Tombstone:
    if expected_id is not None and object_id(data) != expected_id:
        raise IntegrityError(f"{what}: content does not match its id")
    if len(data) < len(MAGIC) + 4 + 64 or not data.startswith(MAGIC):
        raise IntegrityError(f"{what}: not a tombstone")
    signed, signature = data[:-64], data[-64:]
    try:
        verify_key.verify(signed, signature)
    except BadSignatureError as e:
        raise SignatureError(f"{what}: signature does not verify with the mission's signing key") from e
    (length,) = _U32.unpack_from(signed, len(MAGIC))
    try:
        body = json.loads(signed[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
        tomb = Tombstone(str(body["registry_tag"]), str(body["time"]), tuple(str(i) for i in body["forgotten"]))
    except (ValueError, KeyError, TypeError) as e:
        raise IntegrityError(f"{what}: malformed tombstone") from e
    if tomb.registry_tag != tag:
        raise IntegrityError(f"{what}: tombstone of another registry")
    return tomb
