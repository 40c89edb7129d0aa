"""Byte formats of the engine: blobs, packs and manifests reject every alteration."""

from __future__ import annotations

import os

import pytest
from nacl.signing import SigningKey

from replication.crypto import chunk_id, open_blob, seal_blob
from replication.errors import IntegrityError
from replication.manifest import (
    RECORD,
    Entry,
    Manifest,
    PackRef,
    SnapshotHeader,
    TableRows,
    encode_snapshot,
    open_snapshot,
)
from replication.pack import PackWriter, read_pack_header

KEY = bytes(range(32))
ID_KEY = bytes(range(32, 64))


def test_blob_round_trip_compresses_text_and_keeps_random_data_raw() -> None:
    text = b"id,name,born\n" + b"1,Aigerim Abenova,1984-02-11\n" * 5000
    noise = os.urandom(100_000)
    for data in (text, noise, b"", b"x"):
        cid = chunk_id(ID_KEY, data)
        blob = seal_blob(KEY, cid, data)
        assert open_blob(KEY, ID_KEY, cid, blob, len(data), "test") == data
    assert len(seal_blob(KEY, chunk_id(ID_KEY, text), text)) < len(text) // 5
    assert len(seal_blob(KEY, chunk_id(ID_KEY, noise), noise)) == len(noise) + 12 + 16 + 1


def test_blob_is_bound_to_its_chunk_id() -> None:
    a, b = b"first chunk" * 100, b"second chunk" * 100
    blob_a = seal_blob(KEY, chunk_id(ID_KEY, a), a)
    with pytest.raises(IntegrityError, match="authentication failed"):
        open_blob(KEY, ID_KEY, chunk_id(ID_KEY, b), blob_a, len(a), "swapped")


@pytest.mark.parametrize("position", [0, 12, 20, -1])
def test_one_flipped_byte_in_a_blob_is_caught(position: int) -> None:
    data = b"registry row\n" * 1000
    cid = chunk_id(ID_KEY, data)
    blob = bytearray(seal_blob(KEY, cid, data))
    blob[position] ^= 0x01
    with pytest.raises(IntegrityError, match="authentication failed"):
        open_blob(KEY, ID_KEY, cid, bytes(blob), len(data), "flipped")


def test_pack_header_lists_every_blob_and_detects_tampering() -> None:
    writer = PackWriter("00112233aabbccdd", KEY, target_size=1 << 20)
    chunks = [os.urandom(1000 + i) for i in range(5)]
    for data in chunks:
        cid = chunk_id(ID_KEY, data)
        writer.add(cid, seal_blob(KEY, cid, data), len(data))
    pack = writer.finish()
    entries = read_pack_header(pack.data, KEY, "pack")
    assert [e.chunk_id for e in entries] == [chunk_id(ID_KEY, c) for c in chunks]
    for e, data in zip(entries, chunks, strict=True):
        assert open_blob(KEY, ID_KEY, e.chunk_id, pack.data[e.offset : e.offset + e.length], e.raw_len, "p") == data
    damaged = bytearray(pack.data)
    damaged[-30] ^= 0xFF  # inside the encrypted header
    with pytest.raises(IntegrityError):
        read_pack_header(bytes(damaged), KEY, "pack")
    with pytest.raises(IntegrityError, match="another key"):
        read_pack_header(pack.data, bytes(32), "pack")


def _manifest() -> Manifest:
    rec = RECORD.pack(b"\x01" * 32, 0, 0, 100, 80, 0)
    return Manifest(
        registry="population",
        kind="directory",
        time="2026-11-27T08:00:00.000001Z",
        previous=None,
        host="h",
        packs=[PackRef("ab" * 32, 100, "00112233aabbccdd")],
        entries=[Entry("a", "dir", 0o755, 1), Entry("a/b.csv", "file", 0o644, 2, 80, rec, cache=(1, 2, 3))],
    )


def test_manifest_round_trip_and_signature() -> None:
    signing = SigningKey.generate()
    header = SnapshotHeader("tag", "2026-11-27T08:00:00.000001Z", "sig", "00112233aabbccdd")
    data = encode_snapshot(_manifest(), header, KEY, signing)
    opened = open_snapshot(data, signing.verify_key, "m")
    back = opened.decrypt(KEY, "m")
    assert back.entries == _manifest().entries
    assert back.packs == _manifest().packs
    assert b"population" not in data and b"a/b.csv" not in data
    with pytest.raises(IntegrityError, match="signature does not verify"):
        open_snapshot(data, SigningKey.generate().verify_key, "foreign")
    for pos in (3, 20, len(data) // 2, len(data) - 70, len(data) - 1):
        bad = bytearray(data)
        bad[pos] ^= 0x04
        with pytest.raises(IntegrityError):
            open_snapshot(bytes(bad), signing.verify_key, "tampered").decrypt(KEY, "tampered")
    with pytest.raises(IntegrityError, match="does not match its id"):
        open_snapshot(data, signing.verify_key, "renamed", expected_id="00" * 32)


def test_a_postgres_manifest_keeps_its_row_counts_and_older_manifests_have_none() -> None:
    import dataclasses

    signing = SigningKey.generate()
    header = SnapshotHeader("tag", "2026-11-27T08:00:00.000001Z", "sig", "00112233aabbccdd")
    counts = (TableRows("Civil Status", 'Birth "Records"', 37), TableRows("public", "ledger", 40_000))
    manifest = dataclasses.replace(_manifest(), kind="postgres", row_counts=counts)
    back = open_snapshot(encode_snapshot(manifest, header, KEY, signing), signing.verify_key, "m").decrypt(KEY, "m")
    assert back.row_counts == counts
    assert manifest.body_json()["row_counts"] == [["Civil Status", 'Birth "Records"', 37], ["public", "ledger", 40_000]]
    # Written before the field existed (or by another kind): no key, read as not recorded.
    assert "row_counts" not in _manifest().body_json()
    assert Manifest.from_body(_manifest().body_json()).row_counts is None
    for bad in ([["public", "t", -1]], [["public", "t", True]], [["public", 5]], {"public.t": 1}):
        with pytest.raises(ValueError, match="row_counts"):
            Manifest.from_body({**manifest.body_json(), "row_counts": bad})
