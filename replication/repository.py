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
from replication.errors import IntegrityError, ObjectNotFoundError, StoreError
from replication.layout import KEYS_PREFIX, REPO_CONFIG, bundle_key, bundle_seq, registry_tag
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


def repo_mac_key(ring: Keyring) -> bytes:
    return ring.derived_key("repo-mac")


def tag_for(ring: Keyring, registry: str) -> str:
    return registry_tag(ring.derived_key("registry-tag"), registry)


async def ensure_repository(store: Store, ring: Keyring) -> bool:
    """Make ``store`` a repository of ``ring``'s master key holding its current bundle.

    Returns True when something was written. Raises :class:`StoreError` subclasses for store faults
    and :class:`IntegrityError` when the store holds a foreign repository.
    """
    await store.check()
    wrote = False
    mac_key = repo_mac_key(ring)
    try:
        data = await store.get(REPO_CONFIG)
    except ObjectNotFoundError:
        created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        await store.put(
            REPO_CONFIG, RepoConfig(ring.master_key_id, created).to_bytes(mac_key), retain_until(store.lock_days)
        )
        wrote = True
    else:
        RepoConfig.from_bytes(data, mac_key, f"store {store.name}: {REPO_CONFIG}")
    key = bundle_key(ring.bundle_seq)
    if await store.stat(key) is None:
        await store.put(key, ring.bundle(), retain_until(store.lock_days))
        wrote = True
    return wrote


async def load_keyring_from_store(store: Store, master_key: bytes) -> Keyring:
    """The newest key bundle in ``store`` that this master key authenticates, as a keyring."""
    objects = await store.list_objects(KEYS_PREFIX)
    candidates = sorted(((bundle_seq(o.key), o.key) for o in objects if bundle_seq(o.key) is not None), reverse=True)
    if not candidates:
        raise StoreError(store.name, "holds no key bundle (keys/bundle-*.json); is this the right store?")
    problems = []
    for _, key in candidates:
        data = await store.get(key)
        try:
            return Keyring.from_bundle(master_key, data)
        except BundleError as e:
            problems.append(f"{key}: {e}")
    raise IntegrityError(f"store {store.name}: no key bundle belongs to this master key ({problems[0]})")
