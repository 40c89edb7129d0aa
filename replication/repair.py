"""Healing stores from each other: copy what a store lacks or holds damaged from one that holds it intact.

Packs and manifests are the same ciphertext in every store, so healing needs no decryption: the
source copy is checked against its content id (and a manifest was verified by ``verify``) before
it is written. Locked objects are never overwritten: where a locked, intact version lies under a
delete marker or a forged newer version, the marker or forgery is removed when the store allows,
else the good bytes are written again as the newest version. A store that lost its repository
config or key bundle gets them back from the keyring.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keys import Keyring
from replication.cache import LocalCache
from replication.crypto import object_id
from replication.errors import (
    ForeignRepositoryError,
    IntegrityError,
    ObjectLockedError,
    ObjectNotFoundError,
    StoreError,
)
from replication.fetch import fetch_verified
from replication.layout import KEYS_PREFIX, REPO_CONFIG, bundle_key, id_in_key, parse_snapshot_key
from replication.locks import LockAuth, acquire
from replication.progress import NoProgress, Progress
from replication.repository import RepoConfig, check_owner, ensure_repository, repo_mac_key
from replication.retention import RetentionMemory, retain_until
from replication.stores import Store
from replication.verify import Verifier, VerifyReport

HEALABLE = frozenset({"missing", "damaged", "tampered"})


@dataclass
class RepairResult:
    name: str
    copied: int = 0
    uncovered: int = 0  # delete markers / forged versions removed so the locked good version is current
    still_missing: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.still_missing and self.error is None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": self.ok,
            "copied": self.copied,
            "uncovered": self.uncovered,
            "still_missing": self.still_missing,
        }
        if self.error:
            doc["error"] = self.error
        return doc


def _content_id(key: str) -> str | None:
    parsed = parse_snapshot_key(key)
    if parsed is not None:
        return parsed[1]
    return id_in_key(key)


class Repairer:
    def __init__(
        self,
        ring: Keyring,
        stores: list[Store],
        registries: list[str],
        cache_dir: Path | None = None,
        targets: list[str] | None = None,
        read_data: float = 0.0,
        progress: Progress | None = None,
    ) -> None:
        self.ring = ring
        self.stores = stores
        self.registries = registries
        self.cache_dir = cache_dir
        self.targets = set(targets) if targets else {s.name for s in stores}
        self.read_data = read_data
        self.progress = progress or NoProgress()

    async def run(self) -> tuple[dict[str, RepairResult], VerifyReport]:
        # Another mission's repository is refused before anything, a lock included, is written there.
        foreign: dict[str, StoreError] = {}

        async def owner(store: Store) -> None:
            try:
                await check_owner(store, self.ring)
            except ForeignRepositoryError as e:
                foreign[store.name] = e
            except (StoreError, IntegrityError):
                pass  # unreachable or damaged: the verify below names it

        await asyncio.gather(*(owner(s) for s in self.stores))
        ours = [s for s in self.stores if s.name not in foreign]
        # A shared lock, as a backup holds: a prune must not delete what is being copied back.
        locks, busy = await acquire(ours, "backup", timedelta(minutes=10), auth=LockAuth.for_ring(self.ring))
        try:
            return await self._run({**busy, **foreign})
        finally:
            await locks.release()

    async def _run(self, busy: dict[str, StoreError]) -> tuple[dict[str, RepairResult], VerifyReport]:
        verifier = Verifier(
            self.ring, self.stores, self.registries, self.cache_dir, self.read_data, self.progress, recheck=True
        )
        report = await verifier.run()
        results: dict[str, RepairResult] = {}
        by_name = {s.name: s for s in self.stores}
        trusted_keys = {ref.key for view in report.registries.values() for ref, _ in view.trusted.values()}
        for name in sorted(self.targets):
            store = by_name[name]
            sr = report.stores[name]
            result = results[name] = RepairResult(name)
            if sr.error or name in busy:
                result.error = str(busy[name]) if name in busy else sr.error
                continue
            # The findings as verify typed them: what is missing, damaged or laid over (a forgery
            # under its own name has no good copy anywhere; verify names it, repair leaves it).
            keys = sorted({f.key for f in sr.findings if f.kind in HEALABLE and f.key})
            repo_keys = [k for k in keys if k == REPO_CONFIG or k.startswith(KEYS_PREFIX)]
            if repo_keys:
                try:
                    await self._heal_repository(store, repo_keys)
                    result.copied += len(repo_keys)
                except (StoreError, IntegrityError) as e:
                    result.still_missing += repo_keys
                    result.error = str(e)
            content = [k for k in keys if _content_id(k) is not None]
            # A manifest name no store holds verified (junk, or a real manifest under a false time)
            # has no good copy to heal from: verify names it; repair leaves it and says so.
            misnamed = [k for k in content if "/snapshots/" in k and k not in trusted_keys]
            result.still_missing += [f"{k}: no store holds a manifest that verifies under this name" for k in misnamed]
            content = [k for k in content if k not in misnamed]
            retention = RetentionMemory(LocalCache(self.cache_dir).retention(name))
            limit = asyncio.Semaphore(4)

            async def heal(
                key: str,
                store: Store = store,
                result: RepairResult = result,
                retention: RetentionMemory = retention,
                limit: asyncio.Semaphore = limit,
            ) -> None:
                async with limit:
                    try:
                        await self._heal(store, key, result, retention)
                    except (StoreError, IntegrityError) as e:
                        result.still_missing.append(f"{key}: {e}")

            await asyncio.gather(*(heal(k) for k in content))
            retention.save()
        return results, report

    async def _heal_repository(self, store: Store, keys: list[str]) -> None:
        """Write the repository config and current key bundle anew (a new version on a locked store)."""
        until = retain_until(store.lock_days)
        for key in keys:
            if key == REPO_CONFIG:
                created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
                data = RepoConfig(self.ring.master_key_id, created).to_bytes(repo_mac_key(self.ring))
            elif key == bundle_key(self.ring.bundle_seq):
                data = self.ring.bundle()
            else:
                continue
            await store.put(key, data, until)
        await ensure_repository(store, self.ring)

    async def _heal(self, store: Store, key: str, result: RepairResult, retention: RetentionMemory) -> None:
        expected = _content_id(key)
        assert expected is not None
        versioned = await store.versioned()
        # Is it already intact (e.g. a finding that an earlier repair healed)?
        try:
            current = await store.get(key)
            if object_id(current) == expected:
                return
        except ObjectNotFoundError:
            current = None
        if versioned and await self._uncover(store, key, expected):
            result.uncovered += 1
            return
        good = await self._good_copy(store, key, expected)
        until = retain_until(store.lock_days)
        await store.put(key, good, until)
        if until is not None:
            retention.set(key, until)
        self.progress.transferred(store.name, len(good))
        result.copied += 1

    async def _uncover(self, store: Store, key: str, expected: str) -> bool:
        """Make an intact older version current again by removing what lies over it."""
        # Oldest first, as every backend lists them (times have whole seconds: do not re-sort).
        versions = [v for v in await store.list_versions(key) if v.key == key]
        good_at = None
        for i, v in enumerate(versions):
            if not v.is_delete_marker and object_id(await store.get(key, version_id=v.version_id)) == expected:
                good_at = i
        if good_at is None:
            return False
        for v in reversed(versions[good_at + 1 :]):
            try:
                await store.delete(key, version_id=v.version_id)
            except ObjectLockedError:
                return False  # a locked forgery: write the good bytes over it instead
        try:
            return object_id(await store.get(key)) == expected
        except ObjectNotFoundError:
            return False

    async def _good_copy(self, target: Store, key: str, expected: str) -> bytes:
        problems = []
        for source in self.stores:
            if source is target:
                continue
            try:
                return (await fetch_verified(source, key, expected)).data
            except ObjectNotFoundError:
                problems.append(f"{source.name}: missing")
            except (StoreError, IntegrityError) as e:
                problems.append(str(e))
        raise StoreError(target.name, "no store holds an intact copy (" + "; ".join(problems) + ")")
