"""Snapshot manifests: the signed, encrypted description of one snapshot of one registry.

Object layout (all integers little-endian):

    "EMBSNAP\\x01" || header_len (u32) || header (JSON) || body_len (u32) || body || signature (64)
    body      = nonce || AES-256-GCM(data key, zstd(JSON), aad = magic || header)
    signature = Ed25519(signing key, everything before it)

The header is public: format version, registry tag, time, signing and data key ids. The body
holds the tree: every entry with its metadata and, for files, the chunk records
``chunk id (32) || pack index (u32) || offset (u32) || length (u32) || raw length (u32) ||
start (u32)`` that locate each chunk in the packs the manifest lists (``start``: where the chunk
begins in a group's decoded bytes, see replication.pack; format 1 records have no ``start`` and
are read as 0), and the id of the registry's previous
snapshot (a chain: a deleted or replaced snapshot shows as a broken link). A postgres snapshot's
body also holds ``row_counts``, each table's rows in the dump's MVCC snapshot (additive: absent
means not recorded). The snapshot's id is the BLAKE3-256 of the whole object.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

import zstandard
from nacl.signing import SigningKey, VerifyKey

from replication.crypto import object_id, open_sealed, seal
from replication.errors import IntegrityError, RegistryReadError
from replication.layout import MAX_MANIFEST_BYTES
from replication.signed import check_signed

MAGIC = b"EMBSNAP\x01"
FORMAT = 2
READABLE_FORMATS = (1, 2)
RECORD = struct.Struct("<32sIIIII")
_RECORD_V1 = struct.Struct("<32sIIII")
_U32 = struct.Struct("<I")
MAX_HEADER = 64 << 10
MAX_BODY_RAW = 1 << 31

EntryType = Literal["file", "dir", "symlink"]


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    chunk_id: bytes
    pack: int
    offset: int
    length: int
    raw_len: int
    start: int


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    type: EntryType
    mode: int
    mtime_ns: int
    size: int = 0
    chunks: bytes = b""  # concatenated RECORDs, pack indexes into Manifest.packs
    target: str = ""  # symlinks only
    # The files cache's key as the reader saw it (size, mtime, ctime, inode, ...): an unchanged key
    # means the next snapshot reuses this entry's chunks without reading the file again.
    cache: tuple[int, ...] | None = None

    def records(self) -> list[ChunkRecord]:
        return [ChunkRecord(*RECORD.unpack_from(self.chunks, i)) for i in range(0, len(self.chunks), RECORD.size)]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"p": self.path, "t": self.type, "m": self.mode, "mt": self.mtime_ns}
        if self.type == "file":
            d["s"] = self.size
            d["c"] = base64.b64encode(self.chunks).decode()
            if self.cache:
                d["k"] = list(self.cache)
        elif self.type == "symlink":
            d["l"] = self.target
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], fmt: int = FORMAT) -> Entry:
        kind = d["t"]
        if kind not in ("file", "dir", "symlink"):
            raise ValueError(f"unknown entry type {kind!r}")
        chunks = base64.b64decode(d.get("c", ""), validate=True)
        if fmt == 1:  # read as format 2 records: start 0
            if len(chunks) % _RECORD_V1.size:
                raise ValueError("partial chunk record")
            chunks = b"".join(RECORD.pack(*r, 0) for r in _RECORD_V1.iter_unpack(chunks))
        elif len(chunks) % RECORD.size:
            raise ValueError("partial chunk record")
        cache = d.get("k")
        return cls(
            path=str(d["p"]),
            type=kind,
            mode=int(d["m"]),
            mtime_ns=int(d["mt"]),
            size=int(d.get("s", 0)),
            chunks=chunks,
            target=str(d.get("l", "")),
            cache=tuple(int(x) for x in cache) if cache else None,
        )


@dataclass(frozen=True, slots=True)
class TableRows:
    """A PostgreSQL table's row count in the MVCC snapshot the dump was taken from."""

    schema: str
    table: str
    rows: int

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True, slots=True)
class PackRef:
    id: str
    size: int
    key_id: str


@dataclass(slots=True)
class Manifest:
    registry: str
    kind: str
    time: str
    previous: str | None
    host: str
    packs: list[PackRef]
    entries: list[Entry]
    stats: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # postgres registries: every dumped table's rows, counted in the dump's own snapshot. None when
    # not recorded (other kinds, manifests written before the field existed).
    row_counts: tuple[TableRows, ...] | None = None

    @property
    def files(self) -> int:
        return sum(1 for e in self.entries if e.type == "file")

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.entries if e.type == "file")

    def body_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": FORMAT,
            "registry": self.registry,
            "kind": self.kind,
            "time": self.time,
            "previous": self.previous,
            "host": self.host,
            "packs": [[p.id, p.size, p.key_id] for p in self.packs],
            "entries": [e.to_json() for e in self.entries],
            "stats": self.stats,
            "warnings": self.warnings,
        }
        if self.row_counts is not None:
            body["row_counts"] = [[t.schema, t.table, t.rows] for t in self.row_counts]
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Manifest:
        fmt = body.get("format")
        if fmt not in READABLE_FORMATS:
            raise ValueError(f"manifest body format {fmt} is not supported")
        return cls(
            registry=str(body["registry"]),
            kind=str(body["kind"]),
            time=str(body["time"]),
            previous=body["previous"],
            host=str(body.get("host", "")),
            packs=[PackRef(str(p[0]), int(p[1]), str(p[2])) for p in body["packs"]],
            entries=[Entry.from_json(e, fmt) for e in body["entries"]],
            stats={k: int(v) for k, v in body.get("stats", {}).items()},
            warnings=[str(w) for w in body.get("warnings", [])],
            row_counts=_row_counts(body.get("row_counts")),
        )


def _row_counts(value: Any) -> tuple[TableRows, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("row_counts is not a list")
    out = []
    for item in value:
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and isinstance(item[2], int)
            and not isinstance(item[2], bool)
            and item[2] >= 0
        ):
            raise ValueError("row_counts holds a malformed entry")
        out.append(TableRows(item[0], item[1], item[2]))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SnapshotHeader:
    registry_tag: str
    time: str
    signing_key_id: str
    data_key_id: str

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "registry_tag": self.registry_tag,
                "time": self.time,
                "signing_key_id": self.signing_key_id,
                "data_key_id": self.data_key_id,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()


def encode_snapshot(manifest: Manifest, header: SnapshotHeader, data_key: bytes, signing_key: SigningKey) -> bytes:
    head = header.to_bytes()
    raw = json.dumps(manifest.body_json(), separators=(",", ":"), ensure_ascii=False).encode()
    body = seal(data_key, zstandard.ZstdCompressor(level=3).compress(raw), MAGIC + head)
    signed = MAGIC + _U32.pack(len(head)) + head + _U32.pack(len(body)) + body
    if len(signed) + 64 > MAX_MANIFEST_BYTES:  # readers would refuse it as damage
        raise RegistryReadError(
            f"registry {manifest.registry}: its manifest would be {len(signed) >> 20} MiB, more than the "
            f"{MAX_MANIFEST_BYTES >> 20} MiB the format allows; split it into several registries"
        )
    return signed + signing_key.sign(signed).signature


@dataclass(frozen=True, slots=True)
class OpenedSnapshot:
    """A snapshot object split into its parts, its signature checked; the body still encrypted."""

    id: str
    header: SnapshotHeader
    _head: bytes
    _body: bytes

    def decrypt(self, data_key: bytes, what: str) -> Manifest:
        plain = open_sealed(data_key, self._body, MAGIC + self._head, what)
        try:
            raw = zstandard.ZstdDecompressor().decompress(plain, max_output_size=MAX_BODY_RAW)
            return Manifest.from_body(json.loads(raw))
        except (zstandard.ZstdError, ValueError, KeyError, TypeError, IndexError) as e:
            raise IntegrityError(f"{what}: manifest body is malformed: {e}") from e


def open_snapshot(data: bytes, verify_key: VerifyKey, what: str, expected_id: str | None = None) -> OpenedSnapshot:
    """Check the object's id and Ed25519 signature and split it; raises :class:`IntegrityError`."""
    sid = object_id(data)
    if expected_id is not None and sid != expected_id:
        raise IntegrityError(f"{what}: content does not match its id (altered or replaced)")
    signed = check_signed(data, verify_key, MAGIC, what, "snapshot manifest", min_body=8)
    pos = len(MAGIC)
    (head_len,) = _U32.unpack_from(signed, pos)
    pos += 4
    if head_len > MAX_HEADER or pos + head_len + 4 > len(signed):
        raise IntegrityError(f"{what}: header length out of range")
    head = signed[pos : pos + head_len]
    pos += head_len
    (body_len,) = _U32.unpack_from(signed, pos)
    pos += 4
    if pos + body_len != len(signed):
        raise IntegrityError(f"{what}: body length does not match the object")
    try:
        h = json.loads(head)
        if h["format"] not in READABLE_FORMATS:
            raise IntegrityError(f"{what}: manifest format {h['format']} is not supported")
        header = SnapshotHeader(str(h["registry_tag"]), str(h["time"]), str(h["signing_key_id"]), str(h["data_key_id"]))
    except (ValueError, KeyError, TypeError) as e:
        raise IntegrityError(f"{what}: header is malformed") from e
    return OpenedSnapshot(sid, header, head, signed[pos:])
