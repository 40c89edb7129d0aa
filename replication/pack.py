"""Pack objects: many encrypted blobs in one object of a few MiB, with an encrypted index at the end.

    blob_1 || ... || blob_n || header || key_id (8) || header_len (u32 LE) || "EMBPACK\\x01"
    header = nonce || AES-256-GCM(data key, entries, aad = "EMBPACKH" || key_id)
    entry  = chunk id (32) || offset (u32 LE) || length (u32 LE) || raw length (u32 LE)

A pack's id is the BLAKE3-256 of its bytes. Snapshot manifests locate every chunk they need by
(pack, offset, length), so a restore never needs the header; it is there so a pack can be checked
and its blobs re-indexed from the pack alone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from replication.crypto import ID_BYTES, object_id, open_sealed, seal
from replication.errors import IntegrityError

MAGIC = b"EMBPACK\x01"
_ENTRY = struct.Struct("<32sIII")
_TRAILER = struct.Struct("<8sI8s")
HEADER_AAD = b"EMBPACKH"
TARGET_SIZE = 8 << 20


@dataclass(frozen=True, slots=True)
class PackEntry:
    chunk_id: bytes
    offset: int
    length: int
    raw_len: int


@dataclass(slots=True)
class FinishedPack:
    id: str
    data: bytes
    entries: list[PackEntry]
    key_id: str


class PackWriter:
    """Collects sealed blobs for one pack; not thread-safe (one owner adds, then finishes)."""

    def __init__(self, key_id: str, key: bytes, target_size: int = TARGET_SIZE) -> None:
        if len(bytes.fromhex(key_id)) != 8:
            raise ValueError("data key ids are 8 bytes (16 hex digits)")
        self.key_id = key_id
        self._key = key
        self.target_size = target_size
        self._parts: list[bytes] = []
        self.entries: list[PackEntry] = []
        self.size = 0

    def add(self, chunk_id: bytes, blob: bytes | tuple[bytes, ...], raw_len: int) -> int:
        """Append a sealed blob (whole, or in parts joined only when the pack is finished); returns
        its offset in the pack."""
        offset = self.size
        if isinstance(blob, tuple):
            length = len(blob[0]) + len(blob[1]) if len(blob) == 2 else sum(map(len, blob))
            self._parts.extend(blob)
        else:
            length = len(blob)
            self._parts.append(blob)
        self.entries.append(PackEntry(chunk_id, offset, length, raw_len))
        self.size += length
        return offset

    @property
    def full(self) -> bool:
        return self.size >= self.target_size

    def __len__(self) -> int:
        return len(self.entries)

    def finish(self) -> FinishedPack:
        """The pack's bytes and id (CPU work: call from a worker thread for large packs)."""
        table = b"".join(_ENTRY.pack(e.chunk_id, e.offset, e.length, e.raw_len) for e in self.entries)
        kid = bytes.fromhex(self.key_id)
        header = seal(self._key, table, HEADER_AAD + kid)
        self._parts.append(header)
        self._parts.append(_TRAILER.pack(kid, len(header), MAGIC))
        data = b"".join(self._parts)
        self._parts = []
        return FinishedPack(object_id(data), data, self.entries, self.key_id)


def pack_key_id(data: bytes, what: str) -> str:
    """The data key id a pack names in its trailer (before decrypting anything)."""
    if len(data) < _TRAILER.size or data[-8:] != MAGIC:
        raise IntegrityError(f"{what}: not a pack (bad trailer)")
    kid, _, _ = _TRAILER.unpack(data[-_TRAILER.size :])
    return bytes(kid).hex()


def read_pack_header(data: bytes, key: bytes, what: str) -> list[PackEntry]:
    """Decrypt and parse a pack's header, checking that its entries tile the blob area."""
    kid_hex = pack_key_id(data, what)
    kid, header_len, _ = _TRAILER.unpack(data[-_TRAILER.size :])
    end = len(data) - _TRAILER.size
    start = end - header_len
    if start < 0:
        raise IntegrityError(f"{what}: header length {header_len} exceeds the pack")
    table = open_sealed(key, data[start:end], HEADER_AAD + kid, f"{what} header (key {kid_hex})")
    if len(table) % _ENTRY.size:
        raise IntegrityError(f"{what}: header table has a partial entry")
    entries = [PackEntry(*_ENTRY.unpack_from(table, i)) for i in range(0, len(table), _ENTRY.size)]
    pos = 0
    for e in entries:
        if e.offset != pos or len(e.chunk_id) != ID_BYTES:
            raise IntegrityError(f"{what}: header entries do not tile the pack")
        pos += e.length
    if pos != start:
        raise IntegrityError(f"{what}: header covers {pos} bytes of blobs, pack has {start}")
    return entries
