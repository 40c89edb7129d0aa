"""Database blocks sealed several to a blob (format 2 groups), and format 1 objects still read."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import struct
from pathlib import Path

import pytest
from conftest import PASSPHRASE
from nacl.signing import SigningKey

from engine.conftest import Mission, build_mission
from keys import Keyring
from replication.backup import GROUP_CHUNKS
from replication.crypto import (
    CODEC_GROUP,
    GROUP_RAW_LIMIT,
    check_chunk,
    chunk_id,
    object_id,
    open_blob,
    open_chunks,
    open_group,
    seal,
    seal_blob,
    seal_group_parts,
)
from replication.errors import IntegrityError
from replication.manifest import MAGIC as SNAP_MAGIC
from replication.manifest import RECORD, open_snapshot
from replication.pack import HEADER_AAD, PackWriter, blobs, read_pack_header

KEY = bytes(range(32))
ID_KEY = bytes(range(32, 64))
BLOCK = 16 << 10


def _blocks(n: int) -> list[bytes]:
    return [(f"page {i:05d} ".encode() * 2000)[:BLOCK] for i in range(n)]


# -- the blob ----------------------------------------------------------------------------------


def test_a_group_round_trips_and_each_chunk_is_checked_by_its_own_id() -> None:
    blocks = _blocks(5)
    blob = b"".join(seal_group_parts(KEY, blocks))
    assert blob[0] == CODEC_GROUP
    assert len(blob) < BLOCK  # five repetitive pages compress into one frame
    plain = open_group(KEY, blob, "g")
    assert plain == b"".join(blocks)
    for i, data in enumerate(blocks):
        check_chunk(ID_KEY, chunk_id(ID_KEY, data), plain[i * BLOCK : (i + 1) * BLOCK], BLOCK, "g")
    with pytest.raises(IntegrityError, match="does not match its chunk id"):
        check_chunk(ID_KEY, chunk_id(ID_KEY, blocks[0]), plain[BLOCK : 2 * BLOCK], BLOCK, "g")
    with pytest.raises(IntegrityError, match="length 100 where the index says"):
        check_chunk(ID_KEY, chunk_id(ID_KEY, blocks[0]), plain[:100], BLOCK, "g")


@pytest.mark.parametrize("position", [1, 13, 40, -1])
def test_one_flipped_byte_in_a_group_is_caught(position: int) -> None:
    blob = bytearray(b"".join(seal_group_parts(KEY, _blocks(3))))
    blob[position] ^= 0x01
    with pytest.raises(IntegrityError, match="authentication failed"):
        open_group(KEY, bytes(blob), "g")


def test_a_group_cannot_pass_for_a_single_blob_or_the_reverse() -> None:
    blocks = _blocks(2)
    group = b"".join(seal_group_parts(KEY, blocks))
    with pytest.raises(IntegrityError, match="authentication failed"):
        open_blob(KEY, ID_KEY, chunk_id(ID_KEY, blocks[0]), group, BLOCK, "g")
    single = seal_blob(KEY, chunk_id(ID_KEY, blocks[0]), blocks[0])
    with pytest.raises(IntegrityError, match="codec 1 where the index says a group"):
        open_group(KEY, single, "s")
    relabelled = bytes([CODEC_GROUP]) + single[1:]  # the codec byte is authenticated
    with pytest.raises(IntegrityError, match="authentication failed"):
        open_group(KEY, relabelled, "s")


def test_open_chunks_decodes_a_group_once_for_the_chunks_wanted_and_a_single_blob_whole() -> None:
    blocks = _blocks(4)
    ids = [chunk_id(ID_KEY, b) for b in blocks]
    group = b"".join(seal_group_parts(KEY, blocks))
    wanted = [(ids[1], BLOCK, BLOCK), (ids[3], 3 * BLOCK, BLOCK)]  # a later snapshot needs two of four
    assert [bytes(p) for p in open_chunks(KEY, ID_KEY, group, wanted, "g")] == [blocks[1], blocks[3]]
    with pytest.raises(IntegrityError, match="does not match its chunk id"):
        open_chunks(KEY, ID_KEY, group, [(ids[1], 0, BLOCK)], "g")  # the wrong place in the group
    single = seal_blob(KEY, ids[0], blocks[0])
    assert open_chunks(KEY, ID_KEY, single, [(ids[0], 0, BLOCK)], "s") == [blocks[0]]
    with pytest.raises(IntegrityError, match="places chunks inside a blob that holds one"):
        open_chunks(KEY, ID_KEY, single, [(ids[0], BLOCK, BLOCK)], "s")
    with pytest.raises(IntegrityError, match="too short to be a blob"):
        open_chunks(KEY, ID_KEY, b"", [(ids[0], 0, BLOCK)], "empty")


def test_a_group_is_bounded() -> None:
    with pytest.raises(ValueError, match="at most"):
        seal_group_parts(KEY, [bytes(GROUP_RAW_LIMIT), b"x"])


# -- packs -------------------------------------------------------------------------------------


def test_a_pack_indexes_each_chunk_of_a_group_with_its_start() -> None:
    blocks = _blocks(4)
    ids = [chunk_id(ID_KEY, b) for b in blocks]
    writer = PackWriter("00112233aabbccdd", KEY)
    lone = os.urandom(3000)
    writer.add(chunk_id(ID_KEY, lone), seal_blob(KEY, chunk_id(ID_KEY, lone), lone), len(lone))
    offset, length = writer.add_group([(cid, BLOCK) for cid in ids[:3]], seal_group_parts(KEY, blocks[:3]))
    writer.add(ids[3], seal_blob(KEY, ids[3], blocks[3]), BLOCK)
    pack = writer.finish()
    assert pack.data.endswith(b"EMBPACK\x02")
    entries = read_pack_header(pack.data, KEY, "p")
    assert [(e.chunk_id, e.start) for e in entries] == [
        (chunk_id(ID_KEY, lone), 0),
        (ids[0], 0),
        (ids[1], BLOCK),
        (ids[2], 2 * BLOCK),
        (ids[3], 0),
    ]
    assert {(e.offset, e.length) for e in entries[1:4]} == {(offset, length)}
    assert [len(b) for b in blobs(entries)] == [1, 3, 1]


def _v1_pack(chunks: list[bytes]) -> bytes:
    """A pack as format 1 wrote it: 44-byte entries without a start, magic EMBPACK\\x01."""
    parts, table, pos = [], b"", 0
    for data in chunks:
        cid = chunk_id(ID_KEY, data)
        blob = seal_blob(KEY, cid, data)
        parts.append(blob)
        table += struct.pack("<32sIII", cid, pos, len(blob), len(data))
        pos += len(blob)
    kid = bytes.fromhex("00112233aabbccdd")
    header = seal(KEY, table, HEADER_AAD + kid)
    return b"".join(parts) + header + struct.pack("<8sI8s", kid, len(header), b"EMBPACK\x01")


def test_a_format_1_pack_still_reads() -> None:
    chunks = [os.urandom(500), b"row\n" * 400]
    data = _v1_pack(chunks)
    entries = read_pack_header(data, KEY, "v1")
    assert [e.start for e in entries] == [0, 0]
    for e, chunk in zip(entries, chunks, strict=True):
        assert open_blob(KEY, ID_KEY, e.chunk_id, data[e.offset : e.offset + e.length], e.raw_len, "v1") == chunk


def test_a_format_1_manifest_still_reads() -> None:
    """Written here byte by byte as docs/format.md section 7 gave format 1: 48-byte records."""
    signing = SigningKey.generate()
    rec = struct.pack("<32sIIII", b"\x07" * 32, 0, 64, 100, 80)
    head = json.dumps(
        {"format": 1, "registry_tag": "tag", "time": "t", "signing_key_id": "s", "data_key_id": "00112233aabbccdd"},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    body_doc = {
        "format": 1,
        "registry": "cadastre",
        "kind": "sqlite",
        "time": "t",
        "previous": None,
        "host": "h",
        "packs": [["ab" * 32, 100, "00112233aabbccdd"]],
        "entries": [{"p": "cadastre.db", "t": "file", "m": 420, "mt": 1, "s": 80, "c": base64.b64encode(rec).decode()}],
    }
    import zstandard

    raw = zstandard.ZstdCompressor().compress(json.dumps(body_doc).encode())
    body = seal(KEY, raw, SNAP_MAGIC + head)
    signed = SNAP_MAGIC + struct.pack("<I", len(head)) + head + struct.pack("<I", len(body)) + body
    data = signed + signing.sign(signed).signature
    manifest = open_snapshot(data, signing.verify_key, "v1", expected_id=object_id(data)).decrypt(KEY, "v1")
    (entry,) = manifest.entries
    assert entry.chunks == RECORD.pack(b"\x07" * 32, 0, 64, 100, 80, 0)
    assert entry.records()[0].start == 0


# -- end to end, real stores -------------------------------------------------------------------


@pytest.fixture(scope="module")
def db_mission(tmp_path_factory: pytest.TempPathFactory, seaweed) -> Mission:  # type: ignore[no-untyped-def]
    return build_mission(tmp_path_factory.mktemp("groups"), seaweed)


def _ring(mission: Mission) -> Keyring:
    return Keyring.unseal((mission.root / "var" / "keyring").read_bytes(), PASSPHRASE.encode())


def _backup(mission: Mission) -> str:
    r = mission.cli("backup", "--registry", "cadastre", "--json")
    assert r.code == 0, r.err
    return str(json.loads(r.out)["snapshots"][0]["id"])


def _packs(mission: Mission, seaweed, store: str) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    client = seaweed[["lu", "ee", "ch"].index(store)].client()
    bucket = mission.buckets[store]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []) if "/packs/" in o["Key"]]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_a_database_is_stored_in_groups_restored_exactly_and_damage_is_found_and_healed(
    db_mission: Mission, seaweed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    m = db_mission
    db_path = m.root / "registries" / "cadastre.db"
    first_bytes = db_path.read_bytes()
    first = _backup(m)

    ring = _ring(m)
    packs = _packs(m, seaweed, "lu")
    entries = []
    for data in packs.values():
        key = ring.data_key("cadastre", data[-20:-12].hex())
        entries += read_pack_header(data, key, "p")
    groups = [b for b in blobs(entries) if len(b) > 1]
    assert groups, "no database blocks were grouped"
    assert max(len(g) for g in groups) == GROUP_CHUNKS
    assert sum(len(g) for g in groups) * BLOCK >= len(first_bytes) * 0.9

    # Scattered changes: the next snapshot takes most blocks from the first one's groups.
    db = sqlite3.connect(db_path)
    db.executemany("UPDATE person SET note = ? WHERE id = ?", [(f"moved {i}", i) for i in range(1, 20000, 1500)])
    db.commit()
    db.close()
    second_bytes = db_path.read_bytes()
    assert second_bytes != first_bytes
    r = m.cli("backup", "--registry", "cadastre", "--json")
    assert r.code == 0, r.err
    new_bytes = json.loads(r.out)["snapshots"][0]["new_bytes"]
    assert 0 < new_bytes < len(second_bytes) // 4

    for snap, want in ((first, first_bytes), ("latest", second_bytes)):
        target = tmp_path / f"r-{snap[:8]}"
        r = m.cli("restore", snap, "--registry", "cadastre", "--target", str(target), "--store", "lu")
        assert r.code == 0, r.err
        assert (target / "cadastre.db").read_bytes() == want

    # A byte flipped inside a group in one store: found by reading data, healed from the others.
    victim_key, victim = next(
        (k, d)
        for k, d in packs.items()
        if any(len(b) > 1 for b in blobs(read_pack_header(d, ring.data_key("cadastre", d[-20:-12].hex()), "p")))
    )
    group = next(
        b for b in blobs(read_pack_header(victim, ring.data_key("cadastre", victim[-20:-12].hex()), "p")) if len(b) > 1
    )
    bad = bytearray(victim)
    bad[group[0].offset + group[0].length // 2] ^= 0x01
    client = seaweed[0].client()
    client.put_object(Bucket=m.buckets["lu"], Key=victim_key, Body=bytes(bad))

    r = m.cli("verify", "--store", "lu", "--read-data", "--json")
    assert r.code == 1, r.err
    assert victim_key in json.loads(r.out)["stores"]["lu"]["damaged"]
    r = m.cli("restore", first, "--registry", "cadastre", "--target", str(tmp_path / "bad"), "--store", "lu")
    assert r.code == 4 and victim_key in r.err, r.err
    r = m.cli("repair", "--store", "lu")
    assert r.code == 0, r.err
    r = m.cli("verify", "--store", "lu", "--read-data")
    assert r.code == 0, r.err
    assert client.get_object(Bucket=m.buckets["lu"], Key=victim_key)["Body"].read() == victim


def test_repeated_blocks_in_one_batch_are_stored_once_and_restored(db_mission: Mission, tmp_path: Path) -> None:
    """Free pages zeroed by secure_delete: runs of identical blocks among new ones, in one batch."""
    m = db_mission
    db_path = m.root / "registries" / "cadastre.db"
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA secure_delete=ON")
    db.execute("CREATE TABLE bulk (id INTEGER PRIMARY KEY, payload BLOB)")
    db.executemany("INSERT INTO bulk (payload) VALUES (?)", ((os.urandom(3000),) for _ in range(3000)))
    db.commit()
    db.execute("DELETE FROM bulk WHERE id % 50 != 0")  # most pages freed and zeroed, not returned
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = db_path.read_bytes()
    blocks = [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]
    zero_blocks = sum(1 for b in blocks if b == bytes(len(b)))
    assert zero_blocks >= 100, zero_blocks

    r = m.cli("backup", "--registry", "cadastre", "--json")
    assert r.code == 0, r.err
    snap = json.loads(r.out)["snapshots"][0]
    # every zero block after the first is a reference, not stored again
    assert snap["new_bytes"] <= len(data) - (zero_blocks - 1) * BLOCK
    target = tmp_path / "restored"
    r = m.cli("restore", "latest", "--registry", "cadastre", "--target", str(target), "--store", "ee")
    assert r.code == 0, r.err
    assert (target / "cadastre.db").read_bytes() == data
    r = m.cli("verify", "--store", "ee", "--read-data")
    assert r.code == 0, r.err
