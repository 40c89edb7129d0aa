"""A store as a repository: its config object and the key bundles a fresh machine needs.

``ensure_repository`` runs before anything is written to a store: it checks the store (reachable,
bucket exists, Object Lock when asked for), writes the repository config if absent or refuses a
store that holds another master key's repository, and publishes the current key bundle.
"""

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keys import BundleError, Keyring
from keys.encoding import canonical_json
from replication.errors import BundleConflictError, ForeignRepositoryError, IntegrityError, ObjectNotFoundError
from replication.layout import REPO_CONFIG, bundle_key, registry_tag
from replication.retention import retain_until
from replication.stores import Store

REPO_FORMAT = "embassy-data-embassy"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class RepoConfig:
    master_key_id: str
    created: str
    version: int = FORMAT_VERSION

    def to_bytes(self, mac_key: bytes) -> bytes:
        body = {
            "format": REPO_FORMAT,
            "version": self.version,
            "master_key_id": self.master_key_id,
            "created": self.created,
        }
        mac = hmac.new(mac_key, canonical_json(body), "sha256").hexdigest()
        return json.dumps({"body": body, "mac": mac}, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, mac_key: bytes, where: str) -> "RepoConfig":
        try:
            doc = json.loads(data)
            body: dict[str, Any] = doc["body"]
            mac = bytes.fromhex(doc["mac"])
        except (ValueError, KeyError, TypeError) as e:
            raise IntegrityError(f"{where}: repository config is not valid JSON of the expected shape") from e
        if body.get("format") != REPO_FORMAT:
            raise IntegrityError(f"{where}: not a data-embassy repository")
        if body.get("version") != FORMAT_VERSION:
            raise IntegrityError(
                f"{where}: repository format version {body.get('version')} is not supported "
                f"(this program reads version {FORMAT_VERSION})"
            )
        if not hmac.compare_digest(mac, hmac.new(mac_key, canonical_json(body), "sha256").digest()):
            raise IntegrityError(
                f"{where}: repository belongs to another master key (id {body.get('master_key_id')}) or was altered"
            )
        return cls(str(body["master_key_id"]), str(body["created"]), int(body["version"]))

    @staticmethod
    def claimed_owner(data: bytes) -> str | None:
        """The master key id a config names, unauthenticated (None if it names none): enough to
        tell another mission's repository, which we must leave alone, from a damaged one of ours."""
        try:
            owner = json.loads(data)["body"]["master_key_id"]
        except (ValueError, KeyError, TypeError):
            return None
        return owner if isinstance(owner, str) else None


def repo_mac_key(ring: Keyring) -> bytes:
    return ring.derived_key("repo-mac")


def tag_for(ring: Keyring, registry: str) -> str:
    return registry_tag(ring.derived_key("registry-tag"), registry)


async def check_owner(store: Store, ring: Keyring) -> RepoConfig | None:
    """The store's repository config, checked to be this mission's (None when it has none yet).

    Raises :class:`ForeignRepositoryError` when it names another master key: such a store is set
    aside for the run, never written to, and nothing ever replaces its config.
    """
    try:
        data = await store.get(REPO_CONFIG)
    except ObjectNotFoundError:
        return None
    return own_config(data, ring, store.name)


def own_config(data: bytes, ring: Keyring, store: str) -> RepoConfig:
    """``embassy-repo.json`` as ``store`` gave it, checked to be this mission's: another master key's
    is :class:`ForeignRepositoryError` (told apart by its claimed id before the MAC, which only ours
    can pass), one of ours that does not verify is IntegrityError."""
    owner = RepoConfig.claimed_owner(data)
    if owner is not None and owner != ring.master_key_id:
        raise ForeignRepositoryError(store, owner)
    return RepoConfig.from_bytes(data, repo_mac_key(ring), f"store {store}: {REPO_CONFIG}")


async def ensure_repository(store: Store, ring: Keyring) -> bool:
    """Make ``store`` a repository of ``ring``'s master key holding its current bundle.

    Returns True when something was written. Raises :class:`StoreError` subclasses for store faults
    (:class:`ForeignRepositoryError` for another mission's repository, before anything is written;
    :class:`BundleConflictError` when the store holds other keys under the bundle's sequence), and
    :class:`IntegrityError` when the store's config was altered.
    """
    await store.check()
    wrote = False
    if await check_owner(store, ring) is None:
        created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        await store.put(
            REPO_CONFIG,
            RepoConfig(ring.master_key_id, created).to_bytes(repo_mac_key(ring)),
            retain_until(store.lock_days),
        )
        wrote = True
    key = bundle_key(ring.bundle_seq)
    if await store.stat(key) is None:
        await store.put(key, ring.bundle(), retain_until(store.lock_days))
        return True
    try:
        held = Keyring.from_bundle(ring.master_key, await store.get(key))
    except BundleError:
        return wrote  # damaged: verify names it, repair writes it anew
    if held != Keyring.from_bundle(ring.master_key, ring.bundle()):
        raise BundleConflictError(
            store.name,
            f"{key} already holds other keys under sequence {ring.bundle_seq}; "
            "run `embassy keys rotate` to publish under a new sequence",
        )
    return wrote
