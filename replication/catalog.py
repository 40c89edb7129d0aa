"""Trusting snapshot manifests of one registry.

A manifest is trusted only after its id (BLAKE3 of the bytes) matches its name, its Ed25519
signature verifies with the mission's signing key from the keyring, its header names this
registry and the time in its name, and its body decrypts with the registry's data key.
"""

from __future__ import annotations

from dataclasses import dataclass

from nacl.signing import VerifyKey

from keys import Keyring, KeyringError
from replication.errors import IntegrityError
from replication.layout import snapshot_key, time_for_key
from replication.manifest import Manifest, OpenedSnapshot, open_snapshot
from replication.repository import tag_for


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    registry: str
    id: str
    key_time: str  # 20261127T082146.123456Z
    key: str


class Catalog:
    """Opening one registry's manifest objects: bytes in, a verified manifest out (no I/O).
    Which objects a store holds, and which verify, is the inventory's (replication/inventory.py)."""

    def __init__(self, ring: Keyring, registry: str) -> None:
        self.ring = ring
        self.registry = registry
        self.tag = tag_for(ring, registry)
        self._verify_key = VerifyKey(ring.signing.public)

    def key_for(self, time: str, snapshot_id: str) -> str:
        return snapshot_key(self.tag, time, snapshot_id)

    def open(self, data: bytes, ref: SnapshotRef, where: str) -> tuple[OpenedSnapshot, Manifest]:
        """Verify and decrypt a manifest object already in hand."""
        what = f"{where}: {ref.key}"
        opened = open_snapshot(data, self._verify_key, what, expected_id=ref.id)
        header = opened.header
        if header.registry_tag != self.tag:
            raise IntegrityError(f"{what}: manifest belongs to another registry")
        if time_for_key(header.time) != ref.key_time:
            raise IntegrityError(f"{what}: the time in its name differs from the signed time")
        try:
            data_key = self.ring.data_key(self.registry, header.data_key_id)
        except KeyringError as e:
            raise IntegrityError(
                f"{what}: encrypted with data key {header.data_key_id}, which the keyring does not hold"
            ) from e
        manifest = opened.decrypt(data_key, what)
        if manifest.registry != self.registry or manifest.time != header.time:
            raise IntegrityError(f"{what}: body does not match its signed header")
        return opened, manifest
