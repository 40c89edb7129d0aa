"""Finding, fetching and trusting snapshot manifests of one registry.

A manifest is trusted only after its id (BLAKE3 of the bytes) matches its name, its Ed25519
signature verifies with the mission's signing key from the keyring, its header names this
registry and the time in its name, and its body decrypts with the registry's data key. Verified
objects are cached under ``<cache>/manifests/`` (they are ciphertext) and checked again on load.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import VerifyKey

from keys import Keyring, KeyringError
from replication.errors import IntegrityError, ObjectNotFoundError
from replication.fetch import fetch_verified
from replication.fsutil import atomic_write
from replication.layout import parse_snapshot_key, snapshot_key, snapshots_prefix, time_for_key
from replication.manifest import Manifest, OpenedSnapshot, open_snapshot
from replication.repository import tag_for
from replication.stores import Store


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    registry: str
    id: str
    key_time: str  # 20261127T082146.123456Z
    key: str


class Catalog:
    def __init__(self, ring: Keyring, registry: str, cache_dir: Path | None = None) -> None:
        self.ring = ring
        self.registry = registry
        self.tag = tag_for(ring, registry)
        self.cache_dir = cache_dir / "manifests" if cache_dir else None
        self._verify_key = VerifyKey(ring.signing.public)

    async def snapshots(self, store: Store) -> list[SnapshotRef]:
        """The store's snapshots of this registry, oldest first (by the time in their names), including
        ones hidden by a delete marker on a versioned bucket (their locked versions still count)."""
        prefix = snapshots_prefix(self.tag)
        if await store.versioned():
            # A delete marker hides a manifest from a plain listing but not its locked version.
            keys = {v.key for v in await store.list_versions(prefix) if not v.is_delete_marker}
        else:
            keys = {o.key for o in await store.list_objects(prefix)}
        refs = []
        for key in keys:
            parsed = parse_snapshot_key(key)
            if parsed is not None:
                refs.append(SnapshotRef(self.registry, parsed[1], parsed[0], key))
        refs.sort(key=lambda r: (r.key_time, r.id))
        return refs

    def key_for(self, time: str, snapshot_id: str) -> str:
        return snapshot_key(self.tag, time, snapshot_id)

    def _cached(self, snapshot_id: str) -> bytes | None:
        if self.cache_dir is None:
            return None
        try:
            return (self.cache_dir / snapshot_id).read_bytes()
        except FileNotFoundError:
            return None

    def remember(self, snapshot_id: str, data: bytes) -> None:
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(self.cache_dir / snapshot_id, data, mode=0o600)

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

    async def load(self, store: Store, ref: SnapshotRef) -> Manifest:
        """The verified manifest, from the local cache or the store."""
        cached = self._cached(ref.id)
        if cached is not None:
            with contextlib.suppress(IntegrityError):
                return self.open(cached, ref, "local cache")[1]
        fetched = await fetch_verified(store, ref.key, ref.id)
        manifest = self.open(fetched.data, ref, f"store {store.name}")[1]
        await asyncio.to_thread(self.remember, ref.id, fetched.data)  # fsync: off the loop
        return manifest

    async def load_any(self, stores: list[Store], ref: SnapshotRef) -> tuple[Manifest, str]:
        """The manifest from the first store that gives a verified copy; (manifest, store name)."""
        problems: list[str] = []
        for store in stores:
            try:
                return await self.load(store, ref), store.name
            except ObjectNotFoundError:
                continue
            except IntegrityError as e:
                problems.append(str(e))
        if problems:
            raise IntegrityError(problems[0])
        raise ObjectNotFoundError(stores[0].name if stores else "-", ref.key)
