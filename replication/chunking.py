"""Cutting a stream into chunks, in batches that a worker thread hashes, compresses and seals.

Content-defined chunks (FastCDC, ~1 MiB on average) keep dedup working when bytes are inserted or
removed; the gear table is seeded from the registry's secret id key, so chunk boundaries (and
hence sizes) do not reveal content to someone who can guess it. Databases use fixed blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import blake3
from pyfastcdc.cy import FastCDC

from replication.readers.base import Chunking

# FastCDC's real average is avg_size + min_size: 768 KiB + 192 KiB ~ 1 MiB.
CDC_AVG = 768 << 10
CDC_MIN = 192 << 10
CDC_MAX = 4 << 20
BATCH_BYTES = 8 << 20


def cdc_seed(id_key: bytes) -> int:
    # pyfastcdc shifts the seed left by one inside a C uint64: keep it below 2^62.
    return int.from_bytes(blake3.blake3(b"fastcdc-seed", key=id_key).digest()[:8], "little") >> 2


def cut_whole(data: bytes, seed: int) -> list[memoryview]:
    """A small file's content-defined chunks, as views of ``data`` (no copy)."""
    if len(data) <= CDC_MIN:
        return [memoryview(data)]
    cdc = FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX, seed=seed)
    return [chunk.data for chunk in cdc.cut_buf(data)]


def batches(stream: BinaryIO, chunking: Chunking, seed: int, batch_bytes: int = BATCH_BYTES) -> Iterator[list[bytes]]:
    """Lists of consecutive chunks of ``stream``, each list about ``batch_bytes`` long."""
    batch: list[bytes] = []
    size = 0
    if chunking.method == "fixed":
        while True:
            block = stream.read(chunking.size)
            if not block:
                break
            while len(block) < chunking.size:  # pipes and slow files may return short reads
                more = stream.read(chunking.size - len(block))
                if not more:
                    break
                block += more
            batch.append(block)
            size += len(block)
            if size >= batch_bytes:
                yield batch
                batch, size = [], 0
    else:
        cdc = FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX, seed=seed)
        for chunk in cdc.cut_stream(stream):
            data = bytes(chunk.data)  # the view is only valid until the next chunk
            batch.append(data)
            size += len(data)
            if size >= batch_bytes:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch
