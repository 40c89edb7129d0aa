"""Forget records: only the mission can say a snapshot was pruned, for that registry, at that time."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from replication.crypto import object_id
from replication.errors import IntegrityError, SignatureError
from replication.forget import ForgetRecord, encode_record, forgotten_key, open_record

TAG = "0123456789abcdef01234567"
TIME = "2026-11-27T08:21:46.123456Z"
SNAP = "ab" * 32
KEY = SigningKey(b"\x01" * 32)


def record(tag: str = TAG, key: SigningKey = KEY) -> tuple[str, bytes]:
    data = encode_record(ForgetRecord(tag, TIME, {SNAP: "20261126T000000.000000Z"}), "sig-id", key)
    return forgotten_key(tag, TIME, object_id(data)), data


def test_a_record_opens_and_names_what_it_forgot() -> None:
    name, data = record()
    assert name == f"r/{TAG}/forgotten/20261127T082146.123456Z_{object_id(data)}"
    opened = open_record(data, KEY.verify_key, TAG, name, "test")
    assert opened.forgotten == {SNAP: "20261126T000000.000000Z"} and opened.time == TIME


@pytest.mark.parametrize("position", [0, 9, 40, -70, -1])
def test_one_flipped_byte_is_refused(position: int) -> None:
    name, data = record()
    bad = bytearray(data)
    bad[position] ^= 1
    with pytest.raises(IntegrityError, match=r"^test: content does not match its id"):
        open_record(bytes(bad), KEY.verify_key, TAG, name, "test")
    # Renamed to match the altered bytes, the signature still fails it.
    renamed = forgotten_key(TAG, TIME, object_id(bytes(bad)))
    with pytest.raises(IntegrityError, match=r"^test: (signature does not verify|not a forget record|body length)"):
        open_record(bytes(bad), KEY.verify_key, TAG, renamed, "test")


def test_a_record_signed_by_another_key_is_refused() -> None:
    name, data = record(key=SigningKey(b"\x02" * 32))
    with pytest.raises(
        SignatureError, match=r"^test: signature does not verify with the mission's signing key \(tampered"
    ):
        open_record(data, KEY.verify_key, TAG, name, "test")


def test_a_record_moved_to_another_registry_or_time_is_refused() -> None:
    name, data = record(tag="f" * 24)
    with pytest.raises(IntegrityError, match=r"^test: forget record belongs to another registry$"):
        open_record(data, KEY.verify_key, TAG, name.replace("f" * 24, TAG), "test")
    name, data = record()
    moved = name.replace("20261127T082146.123456Z", "20261128T082146.123456Z")
    with pytest.raises(IntegrityError, match=r"^test: the time in its name differs from the signed time$"):
        open_record(data, KEY.verify_key, TAG, moved, "test")
