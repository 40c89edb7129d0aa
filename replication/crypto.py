"""The one place where chunks and metadata are hashed, compressed and encrypted.

Chunk ids are keyed BLAKE3-256 MACs of the plaintext under the registry's secret id key, so a
store that holds ciphertext cannot confirm a guess about the content. Blobs are encrypted with
AES-256-GCM under the registry's data key with the chunk id as associated data, so a store cannot
swap one blob for another: the tag fails unless the blob was made for exactly that id.

Nonce policy: every encryption draws a fresh random 96-bit nonce. NIST SP 800-38D bounds random
nonces to 2^32 encryptions per key for a collision chance below 2^-32. A data key encrypts each
distinct chunk once (dedup), one header per pack and one manifest per snapshot, so at the ~1 MiB
average chunk that bound is ~4 PiB of unique data per key (64 TiB for 16 KiB database chunks);
`embassy keys rotate` starts a new key long before that. Pack and manifest ids are unkeyed
BLAKE3-256 of the object bytes, so anyone can check an object's integrity without keys.

Consecutive blocks of a database are sealed several to a blob (a *group*: one zstd frame for all of
them, ``seal_group_parts``): a 16 KiB frame spends a third of its decoding time setting up its
tables, so a group decodes ~1.5x faster and stores ~9 % smaller. Each block keeps its own chunk id,
checked after decoding; the group's associated data is its codec byte alone, since a reader that
wants one block does not know the ids of the others.

zstandard compressor objects are not thread-safe (sharing one crashed the interpreter): each
thread keeps its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from replication.errors import IntegrityError

NONCE = 12
TAG = 16
ID_BYTES = 32
CODEC_RAW = 0
CODEC_ZSTD = 1
CODEC_GROUP = 2  # several chunks, concatenated, in one zstd frame
# A group decodes to at most this many bytes; the writer makes groups of up to 1 MiB.
GROUP_RAW_LIMIT = 4 << 20
ZSTD_LEVEL = 1
# Store compressed only when it saves at least this fraction: skip incompressible data.
_MIN_SAVING = 0.03
_local = threading.local()
_GROUP_AAD = bytes([CODEC_GROUP])


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_local, "zc", None)
    if c is None:
        c = _local.zc = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "zd", None)
    if d is None:
        d = _local.zd = zstandard.ZstdDecompressor()
    return d


def chunk_id(id_key: bytes, data: bytes | memoryview) -> bytes:
    return blake3.blake3(data, key=id_key).digest()


def object_id(data: bytes | memoryview) -> str:
    """The content id of a pack or manifest: hex BLAKE3-256 of its bytes (unkeyed)."""
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO if len(data) > (8 << 20) else 1).hexdigest()


def compress(data: bytes | memoryview) -> tuple[int, bytes | memoryview]:
    """(codec, payload): zstd when it saves enough, else the data unchanged."""
    if len(data) < 64:
        return CODEC_RAW, data
    packed = _compressor().compress(data)
    if len(packed) <= len(data) * (1 - _MIN_SAVING):
        return CODEC_ZSTD, packed
    return CODEC_RAW, data


def decompress(codec: int, payload: bytes, raw_len: int) -> bytes:
    if codec == CODEC_RAW:
        return payload
    if codec == CODEC_ZSTD:
        try:
            return _decompressor().decompress(payload, max_output_size=raw_len)
        except zstandard.ZstdError as e:
            raise IntegrityError(f"blob does not decompress: {e}") from e
    raise IntegrityError(f"unknown codec {codec}")


def seal(key: bytes, plaintext: bytes | memoryview, aad: bytes) -> bytes:
    """nonce || AES-256-GCM(key, plaintext, aad) (ciphertext with its 16-byte tag)."""
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes | memoryview, aad: bytes, what: str) -> bytes:
    if len(sealed) < NONCE + TAG:
        raise IntegrityError(f"{what}: too short to be sealed data")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE], sealed[NONCE:], aad)
    except InvalidTag as e:
        raise IntegrityError(f"{what}: authentication failed (tampered, damaged or another key's)") from e


def seal_blob_parts(key: bytes, cid: bytes, data: bytes | memoryview) -> tuple[bytes, bytes]:
    """A chunk as stored in a pack, in two parts: codec (1) || nonce (12), then GCM(payload) || tag.

    The codec byte is authenticated as associated data with the chunk id rather than encrypted
    with the payload, which saves copying every chunk once more; the parts are joined with the
    rest of the pack in a single copy.
    """
    codec, payload = compress(data)
    nonce = os.urandom(NONCE)
    return bytes([codec]) + nonce, AESGCM(key).encrypt(nonce, payload, cid + bytes([codec]))


def seal_blob(key: bytes, cid: bytes, data: bytes | memoryview) -> bytes:
    return b"".join(seal_blob_parts(key, cid, data))


def seal_group_parts(key: bytes, chunks: Sequence[bytes | memoryview]) -> tuple[bytes, bytes]:
    """Several chunks as one blob, in two parts: codec 2 || nonce, then GCM(zstd(chunk_1 || ...)) || tag."""
    raw = b"".join(chunks)
    if len(raw) > GROUP_RAW_LIMIT:
        raise ValueError(f"a group holds at most {GROUP_RAW_LIMIT} bytes, not {len(raw)}")
    payload = _compressor().compress(raw)
    nonce = os.urandom(NONCE)
    return _GROUP_AAD + nonce, AESGCM(key).encrypt(nonce, payload, _GROUP_AAD)


def _open_payload(key: bytes, blob: bytes | memoryview, aad: bytes, what: str) -> bytes:
    """codec (1) || nonce || GCM(payload) || tag: the payload, once its tag checks out."""
    if len(blob) < 1 + NONCE + TAG:
        raise IntegrityError(f"{what}: too short to be a blob")
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + NONCE], blob[1 + NONCE :], aad)
    except InvalidTag as e:
        raise IntegrityError(f"{what}: authentication failed (tampered, damaged or another key's)") from e


def open_group(key: bytes, blob: bytes | memoryview, what: str) -> bytes:
    """A group blob's chunks, concatenated, after checking its AEAD tag (each chunk's id is the
    caller's to check, with :func:`check_chunk`)."""
    if len(blob) and blob[0] != CODEC_GROUP:
        raise IntegrityError(f"{what}: codec {blob[0]} where the index says a group of chunks")
    payload = _open_payload(key, blob, _GROUP_AAD, what)
    try:
        size = zstandard.frame_content_size(payload)
        if not 0 <= size <= GROUP_RAW_LIMIT:
            raise IntegrityError(f"{what}: group does not declare a size of at most {GROUP_RAW_LIMIT} bytes ({size})")
        return _decompressor().decompress(payload, max_output_size=GROUP_RAW_LIMIT)
    except zstandard.ZstdError as e:
        raise IntegrityError(f"{what}: group does not decompress: {e}") from e


def check_chunk(id_key: bytes, cid: bytes, data: bytes | memoryview, raw_len: int, what: str) -> None:
    """The length and keyed id the manifest or pack index give for a chunk's plaintext."""
    if len(data) != raw_len:
        raise IntegrityError(f"{what}: length {len(data)} where the index says {raw_len}")
    if chunk_id(id_key, data) != cid:
        raise IntegrityError(f"{what}: content does not match its chunk id")


def open_blob(key: bytes, id_key: bytes, cid: bytes, blob: bytes | memoryview, raw_len: int, what: str) -> bytes:
    """The chunk's plaintext, after checking the AEAD tag, the length and the keyed id."""
    codec = blob[0] if len(blob) else CODEC_RAW
    data = decompress(codec, _open_payload(key, blob, cid + bytes([codec]), what), raw_len)
    check_chunk(id_key, cid, data, raw_len, what)
    return data


def open_chunks(
    key: bytes, id_key: bytes, blob: bytes | memoryview, wanted: Sequence[tuple[bytes, int, int]], what: str
) -> list[bytes | memoryview]:
    """The plaintext of each wanted chunk (chunk id, start, raw length) of one blob, each checked.

    A group is decoded once for all the chunks wanted from it; a blob of one chunk has it at start 0.
    """
    if len(blob) and blob[0] == CODEC_GROUP:
        group = memoryview(open_group(key, blob, what))
        out: list[bytes | memoryview] = []
        for cid, start, raw_len in wanted:
            plain = group[start : start + raw_len]
            check_chunk(id_key, cid, plain, raw_len, what)
            out.append(plain)
        return out
    if len(wanted) != 1 or wanted[0][1] != 0:
        raise IntegrityError(f"{what}: the index places chunks inside a blob that holds one")
    cid, _, raw_len = wanted[0]
    return [open_blob(key, id_key, cid, blob, raw_len, what)]
