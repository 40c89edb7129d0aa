"""The local cache: what this machine remembers between runs, and where. Nothing in it is trusted
blindly: a cached manifest is checked again on load (it is ciphertext named by its hash), retention
dates are only a shortcut past asking the store, and verify's read dates only order its sampling.

    <cache>/manifests/<snapshot id>        verified manifest objects, byte for byte
    <cache>/summaries/<snapshot id>        MAC'd summaries of verified manifests (replication/summary.py)
    <cache>/retention/<store>.json         retention dates already set (replication/retention.py)
    <cache>/verify/<store>.read.json       when verify last read each pack (oldest first next time)
    <cache>/verify/<store>.suspect.json    packs whose last read failed: read again first (by repair)
    <cache>/journal/<registry tag>         packs a backup sent before its manifest (journal.py)
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from replication.fsutil import atomic_write
from replication.layout import id_in_key


@dataclass(frozen=True, slots=True)
class LocalCache:
    """Every path under the local cache folder; ``None`` roots keep nothing (scratch runs)."""

    root: Path | None

    @property
    def manifests(self) -> Path | None:
        return self.root / "manifests" if self.root else None

    @property
    def summaries(self) -> Path | None:
        return self.root / "summaries" if self.root else None

    def manifest(self, snapshot_id: str) -> bytes | None:
        """The cached bytes of a manifest, unchecked (callers verify them), or None."""
        return _read(self.manifests, snapshot_id)

    def remember_manifest(self, snapshot_id: str, data: bytes) -> None:
        _write(self.manifests, snapshot_id, data)

    def forget_manifest(self, snapshot_id: str) -> None:
        _unlink(self.manifests, snapshot_id)
        _unlink(self.summaries, snapshot_id)

    def summary(self, snapshot_id: str) -> bytes | None:
        """A verified manifest's MAC'd summary, unchecked (replication/summary.py checks it), or None."""
        return _read(self.summaries, snapshot_id)

    def remember_summary(self, snapshot_id: str, data: bytes) -> None:
        _write(self.summaries, snapshot_id, data)

    def forget_summary(self, snapshot_id: str) -> None:
        _unlink(self.summaries, snapshot_id)

    def retention(self, store: str) -> Path | None:
        return self.root / "retention" / f"{store}.json" if self.root else None

    def journal(self, tag: str) -> Path | None:
        return self.root / "journal" / tag if self.root else None

    def verify_reads(self, store: str) -> Path | None:
        return self.root / "verify" / f"{store}.read.json" if self.root else None

    def _suspect_path(self, store: str) -> Path | None:
        return self.root / "verify" / f"{store}.suspect.json" if self.root else None

    def suspect_packs(self, store: str) -> set[str]:
        """Pack keys whose last read in ``store`` failed: only a hint of what to read again (the
        read itself decides), never a finding."""
        path = self._suspect_path(store)
        if path is None:
            return set()
        try:
            return {str(k) for k in json.loads(path.read_text())}
        except (OSError, ValueError, TypeError):
            return set()

    def update_suspect_packs(self, store: str, failed: set[str], intact: set[str]) -> None:
        path = self._suspect_path(store)
        if path is None or not (failed or intact):
            return
        keys = (self.suspect_packs(store) | failed) - intact
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, json.dumps(sorted(keys)).encode(), mode=0o600)


def _read(folder: Path | None, snapshot_id: str) -> bytes | None:
    if folder is None or id_in_key(snapshot_id) is None:
        return None
    try:
        return (folder / snapshot_id).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _write(folder: Path | None, snapshot_id: str, data: bytes) -> None:
    if folder is not None and id_in_key(snapshot_id) is not None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # No fsync: an entry lost in a crash is fetched again, and every read is checked.
        atomic_write(folder / snapshot_id, data, mode=0o600, durable=False)


def _unlink(folder: Path | None, snapshot_id: str) -> None:
    if folder is not None and id_in_key(snapshot_id) is not None:
        with contextlib.suppress(OSError):
            (folder / snapshot_id).unlink(missing_ok=True)
