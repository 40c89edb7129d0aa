"""Pack objects: many encrypted blobs in one object of a few MiB, with an encrypted index at the end.

    blob_1 || ... || blob_n || header || key_id (8) || header_len (u32 LE) || "EMBPACK\\x02"
    header = nonce || AES-256-GCM(data key, entries, aad = "EMBPACKH" || key_id)
    entry  = chunk id (32) || offset (u32 LE) || length (u32 LE) || raw length (u32 LE) || start (u32 LE)

A blob holds one chunk, or several consecutive ones (a group, crypto.seal_group_parts): a group
has one entry per chunk, all with the blob's offset and length, ``start`` being where the chunk
begins in the group's decoded bytes. Format 1 packs ("EMBPACK\\x01") have no ``start`` (and no
groups); they are still read.

A pack's id is the BLAKE3-256 of its bytes. Snapshot manifests locate every chunk they need by
(pack, offset, length, start), so a restore never needs the header; it is there so a pack can be
checked and its blobs re-indexed from the pack alone.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from replication.crypto import ID_BYTES, object_id, open_sealed, seal
from replication.errors import IntegrityError

MAGIC = b"EMBPACK\x02"
MAGIC_V1 = b"EMBPACK\x01"
_ENTRY = struct.Struct("<32sIIII")
_ENTRY_V1 = struct.Struct("<32sIII")
_TRAILER = struct.Struct("<8sI8s")
HEADER_AAD = b"EMBPACKH"
TARGET_SIZE = 8 << 20
MAX_ENTRIES = 1 << 16  # a header of at most 3 MiB


@dataclass(frozen=True, slots=True)
class PackEntry:
    chunk_id: bytes
    offset: int
    length: int
    raw_len: int
    start: int = 0  # where the chunk begins in its group's decoded bytes (0: a blob of its own)


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

    def _append(self, blob: bytes | tuple[bytes, ...]) -> tuple[int, int]:
        offset = self.size
        if isinstance(blob, tuple):
            length = len(blob[0]) + len(blob[1]) if len(blob) == 2 else sum(map(len, blob))
            self._parts.extend(blob)
        else:
            length = len(blob)
            self._parts.append(blob)
        self.size += length
        return offset, length

    def add(self, chunk_id: bytes, blob: bytes | tuple[bytes, ...], raw_len: int) -> int:
        """Append a sealed blob (whole, or in parts joined only when the pack is finished); returns
        its offset in the pack."""
        offset, length = self._append(blob)
        self.entries.append(PackEntry(chunk_id, offset, length, raw_len))
        return offset

    def add_group(self, members: Sequence[tuple[bytes, int]], blob: bytes | tuple[bytes, ...]) -> tuple[int, int]:
        """Append a group blob holding ``members`` ((chunk id, raw length), in order); returns its
        offset and length in the pack."""
        offset, length = self._append(blob)
        start = 0
        for cid, raw_len in members:
            self.entries.append(PackEntry(cid, offset, length, raw_len, start))
            start += raw_len
        return offset, length

    @property
    def full(self) -> bool:
        # The entry cap keeps the header (48 bytes an entry) small however well the blobs compress,
        # so a pack stays far below the format's MAX_PACK_BYTES.
        return self.size >= self.target_size or len(self.entries) >= MAX_ENTRIES

    def __len__(self) -> int:
        return len(self.entries)

    def finish(self) -> FinishedPack:
        """The pack's bytes and id (CPU work: call from a worker thread for large packs)."""
        table = b"".join(_ENTRY.pack(e.chunk_id, e.offset, e.length, e.raw_len, e.start) for e in self.entries)
        kid = bytes.fromhex(self.key_id)
        header = seal(self._key, table, HEADER_AAD + kid)
        self._parts.append(header)
        self._parts.append(_TRAILER.pack(kid, len(header), MAGIC))
        data = b"".join(self._parts)
        self._parts = []
        return FinishedPack(object_id(data), data, self.entries, self.key_id)


def pack_key_id(data: bytes, what: str) -> str:
    """The data key id a pack names in its trailer (before decrypting anything)."""
    if len(data) < _TRAILER.size or data[-8:] not in (MAGIC, MAGIC_V1):
        raise IntegrityError(f"{what}: not a pack (bad trailer)")
    kid, _, _ = _TRAILER.unpack(data[-_TRAILER.size :])
    return bytes(kid).hex()


def read_pack_header(data: bytes, key: bytes, what: str) -> list[PackEntry]:
    """Decrypt and parse a pack's header, checking that its entries tile the blob area."""
    kid_hex = pack_key_id(data, what)
    kid, header_len, magic = _TRAILER.unpack(data[-_TRAILER.size :])
    end = len(data) - _TRAILER.size
    start = end - header_len
    if start < 0:
        raise IntegrityError(f"{what}: header length {header_len} exceeds the pack")
    table = open_sealed(key, data[start:end], HEADER_AAD + kid, f"{what} header (key {kid_hex})")
    entry = _ENTRY_V1 if magic == MAGIC_V1 else _ENTRY  # format 1 entries have no start
    if len(table) % entry.size:
        raise IntegrityError(f"{what}: header table has a partial entry")
    entries = [PackEntry(*f) for f in entry.iter_unpack(table)]
    pos = 0
    prev: PackEntry | None = None
    for e in entries:
        if len(e.chunk_id) != ID_BYTES:
            raise IntegrityError(f"{what}: header entries do not tile the pack")
        if prev is not None and e.offset == prev.offset:  # the next chunk of the same group
            if e.length != prev.length or e.start != prev.start + prev.raw_len:
                raise IntegrityError(f"{what}: a group's entries do not tile its decoded bytes")
        elif e.offset != pos or e.start != 0:
            raise IntegrityError(f"{what}: header entries do not tile the pack")
        else:
            pos += e.length
        prev = e
    if pos != start:
        raise IntegrityError(f"{what}: header covers {pos} bytes of blobs, pack has {start}")
    return entries


def blobs(entries: list[PackEntry]) -> list[list[PackEntry]]:
    """A pack's entries by blob: one entry for a chunk of its own, several for a group."""
    out: list[list[PackEntry]] = []
    for e in entries:
        if out and out[-1][0].offset == e.offset:
            out[-1].append(e)
        else:
            out.append([e])
    return out
