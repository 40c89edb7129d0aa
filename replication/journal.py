"""The pack journal: what a backup sealed and sent, remembered so that a killed run's packs are reused.

A backup writes a snapshot's packs first and its manifest last, so a run killed part-way leaves
packs in the stores that no manifest names (nothing half-written is visible as a snapshot). Before
a pack is sent, its index (each chunk's id, offset, stored and raw length, start in its group) is
appended to ``<cache>/journal/<registry tag>`` and flushed to disk. The next backup of the registry
reads the journal back: a pack counts as arrived in a store only when that store's listing shows
it under its content-hash name with the size the journal recorded, and then its chunks join the
dedup index, so only what is missing is sent again (and a store that lacks an arrived pack gets it
copied from one that holds it). Verify later reads those packs like any other.

Once a manifest is written, the journal of its registry is emptied: its packs are referenced (or,
if no snapshot needs them, unreferenced packs that prune removes after its grace period). A torn
last line (a kill while appending) is ignored, and so is any line that does not parse.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from replication.manifest import RECORD
from replication.pack import PackEntry

_LINE = re.compile(r"^([0-9a-f]{64}) ([0-9]{1,12}) ([0-9a-f]{16}) ([A-Za-z0-9+/=]*)$")


@dataclass(frozen=True, slots=True)
class JournalPack:
    id: str
    size: int
    key_id: str
    entries: list[PackEntry]


class PackJournal:
    """The journal of one registry (``path`` None: a run that keeps nothing)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def append(self, pack_id: str, size: int, key_id: str, entries: Iterable[PackEntry]) -> None:
        """Record a sealed pack before it is sent; durable when this returns (fsync)."""
        if self.path is None:
            return
        records = b"".join(RECORD.pack(e.chunk_id, 0, e.offset, e.length, e.raw_len, e.start) for e in entries)
        line = f"{pack_id} {size} {key_id} {base64.b64encode(records).decode()}\n".encode()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def packs(self) -> Iterator[JournalPack]:
        """The packs recorded, in order; lines that do not parse are skipped."""
        if self.path is None:
            return
        try:
            text = self.path.read_bytes().decode("ascii", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            return
        for line in text.split("\n"):
            match = _LINE.match(line)
            if match is None:
                continue
            try:
                records = base64.b64decode(match.group(4), validate=True)
            except (binascii.Error, ValueError):
                continue
            if not records or len(records) % RECORD.size:
                continue
            entries = [
                PackEntry(cid, off, length, raw, start)
                for cid, _, off, length, raw, start in RECORD.iter_unpack(records)
            ]
            yield JournalPack(match.group(1), int(match.group(2)), match.group(3), entries)

    def clear(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
