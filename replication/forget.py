"""Forget records: signed evidence that prune removed snapshots on purpose.

A manifest's ``previous`` names the snapshot before it, so a snapshot that vanished shows as a
broken chain. Prune removes snapshots by design; before it deletes any manifest it writes a forget
record naming them, signed with the mission's key, so readers can tell a pruned snapshot from one
an attacker deleted. A store cannot forge a record (Ed25519) nor move one to another registry (the
tag is signed). Deleting a record only makes the chain look broken: the safe direction.

    r/<tag>/forgotten/<time>_<id>      id = BLAKE3(record), time as in snapshot keys
    record = "EMBFORG\\x01" || body_len (u32) || body || signature (64)
    body   = canonical JSON {"format": 1, "registry_tag", "time", "signing_key_id",
                             "forgotten": [[snapshot id, key time], ...]}
    signature = Ed25519(signing key, every byte before it)

Ids and times are not secret (they are object names already), so the body is not encrypted.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nacl.signing import SigningKey, VerifyKey

from keys import Keyring
from keys.encoding import canonical_json
from replication.errors import IntegrityError, ObjectNotFoundError, StoreError
from replication.fetch import fetch_verified
from replication.layout import MAX_FORGET_BODY, parse_snapshot_key, time_for_key
from replication.repository import tag_for
from replication.signed import check_signed
from replication.stores import Store

MAGIC = b"EMBFORG\x01"
FORMAT = 1
MAX_BODY = MAX_FORGET_BODY
_U32 = struct.Struct("<I")


def forgotten_prefix(tag: str) -> str:
    return f"r/{tag}/forgotten/"


def forgotten_key(tag: str, time: str, record_id: str) -> str:
    return f"{forgotten_prefix(tag)}{time_for_key(time)}_{record_id}"


@dataclass(frozen=True, slots=True)
class ForgetRecord:
    registry_tag: str
    time: str  # 2026-11-27T08:21:46.123456Z
    forgotten: dict[str, str]  # snapshot id -> its key time (20261127T082146.123456Z)


def encode_record(record: ForgetRecord, signing_key_id: str, signing_key: SigningKey) -> bytes:
    body = canonical_json(
        {
            "format": FORMAT,
            "registry_tag": record.registry_tag,
            "time": record.time,
            "signing_key_id": signing_key_id,
            "forgotten": sorted([sid, t] for sid, t in record.forgotten.items()),
        }
    )
    signed = MAGIC + _U32.pack(len(body)) + body
    return signed + signing_key.sign(signed).signature


def open_record(data: bytes, verify_key: VerifyKey, tag: str, key: str, what: str) -> ForgetRecord:
    """Check a record against its key (id, time), the signature and the registry; raises IntegrityError."""
    parsed = parse_snapshot_key(key)
    if parsed is None:
        raise IntegrityError(f"{what}: not a forget record's name")
    key_time, record_id = parsed
    signed = check_signed(data, verify_key, MAGIC, what, "forget record", expected_id=record_id)
    (body_len,) = _U32.unpack_from(signed, len(MAGIC))
    if body_len > MAX_BODY or len(MAGIC) + 4 + body_len != len(signed):
        raise IntegrityError(f"{what}: body length does not match the object")
    try:
        body = json.loads(signed[len(MAGIC) + 4 :])
        if body["format"] != FORMAT:
            raise IntegrityError(f"{what}: forget record format {body['format']} is not supported")
        record = ForgetRecord(
            str(body["registry_tag"]), str(body["time"]), {str(s): str(t) for s, t in body["forgotten"]}
        )
    except (ValueError, KeyError, TypeError) as e:
        raise IntegrityError(f"{what}: forget record is malformed") from e
    if record.registry_tag != tag:
        raise IntegrityError(f"{what}: forget record belongs to another registry")
    if time_for_key(record.time) != key_time:
        raise IntegrityError(f"{what}: the time in its name differs from the signed time")
    return record


@dataclass
class ForgottenSnapshots:
    """What the verified forget records of one registry say, over every store that answered."""

    snapshots: dict[str, str]  # snapshot id -> key time
    by_store: dict[str, set[str]]  # store name -> ids named by verified records that store lists
    problems: list[str]  # records that failed verification, stores that could not be listed


async def load_forgotten(
    ring: Keyring, registry: str, stores: list[Store], listed: Mapping[str, Iterable[str]] | None = None
) -> ForgottenSnapshots:
    """Every snapshot the registry's verified forget records name, read from all ``stores``.
    ``listed``: keys a store was already listed with this run (the inventory's), used instead of
    listing that store again."""
    tag = tag_for(ring, registry)
    verify_key = VerifyKey(ring.signing.public)
    holders: dict[str, list[Store]] = {}
    problems: list[str] = []
    prefix = forgotten_prefix(tag)

    async def listing(store: Store) -> None:
        if listed is not None and store.name in listed:
            for key in listed[store.name]:
                if key.startswith(prefix):
                    holders.setdefault(key, []).append(store)
            return
        try:
            for info in await store.list_objects(prefix):
                holders.setdefault(info.key, []).append(store)
        except StoreError as e:
            problems.append(str(e))

    await asyncio.gather(*(listing(s) for s in stores))
    found: dict[str, str] = {}
    by_store: dict[str, set[str]] = {s.name: set() for s in stores}

    async def one(key: str, where: list[Store]) -> None:
        parsed = parse_snapshot_key(key)
        if parsed is None:
            return
        last: str | None = None
        for store in where:
            try:
                fetched = await fetch_verified(store, key, parsed[1])
                record = open_record(fetched.data, verify_key, tag, key, f"store {store.name}: {key}")
            except ObjectNotFoundError:
                continue
            except (StoreError, IntegrityError) as e:
                last = str(e)
                continue
            found.update(record.forgotten)
            for holder in where:  # the bytes are named by their hash: every holder's copy is this one
                by_store[holder.name].update(record.forgotten)
            return
        if last:
            problems.append(last)

    await asyncio.gather(*(one(k, w) for k, w in sorted(holders.items())))
    return ForgottenSnapshots(found, by_store, problems)
