"""Where each object lives in a store. docs/format.md describes the same layout for auditors.

    embassy-repo.json                     repository config (format version), MAC'd
    keys/bundle-<seq:010d>.json           key bundles; the highest valid seq is current
    r/<registry tag>/packs/<id[:2]>/<id>  pack objects; id = BLAKE3-256 of the pack's bytes
    r/<registry tag>/snapshots/<time>_<id> snapshot manifests; id = BLAKE3-256 of the object's bytes,
                                          time (UTC, 20261127T082146.123456Z) = the manifest's own
    r/<registry tag>/forgotten/<time>_<id> forget records: snapshots pruned on purpose (forget.py)
    locks/<kind>-<expires>-<token>        backup and prune locks (locks.py)

Registry tags are keyed hashes of the registry names, so a store operator does not learn them.
Every content object is named by the hash of its bytes, so a newer version laid over it (on a
versioned bucket) or a substituted file cannot pass for it.
"""

import hmac
import re
from dataclasses import dataclass

REPO_CONFIG = "embassy-repo.json"
KEYS_PREFIX = "keys/"
LOCKS_PREFIX = "locks/"
_BUNDLE_RE = re.compile(r"^keys/bundle-(\d{10})\.json$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SNAPSHOT_RE = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)_([0-9a-f]{64})$")


# How long each kind of object may be (docs/format.md, section 2b). A reader never reads more: a
# longer answer is damage, so a hostile store cannot exhaust memory by answering with more.
MAX_REPO_CONFIG_BYTES = 64 << 10
MAX_BUNDLE_BYTES = 4 << 20
MAX_LOCK_BYTES = 4096
MAX_MANIFEST_BYTES = 64 << 20
MAX_FORGET_BODY = 16 << 20
MAX_FORGET_BYTES = MAX_FORGET_BODY + 76  # magic (8), body length (4), signature (64)
MAX_PACK_BYTES = 64 << 20
_KIND_RE = re.compile(r"^r/[0-9a-f]{24}/(packs|snapshots|forgotten)/")


@dataclass(frozen=True, slots=True)
class ReadCap:
    limit: int
    kind: str  # for messages: "a manifest"


def read_cap(key: str) -> ReadCap:
    """The most bytes the format allows for the object under ``key`` (a pack's for anything else)."""
    if key == REPO_CONFIG:
        return ReadCap(MAX_REPO_CONFIG_BYTES, "the repository config")
    if key.startswith(KEYS_PREFIX):
        return ReadCap(MAX_BUNDLE_BYTES, "a key bundle")
    if key.startswith(LOCKS_PREFIX):
        return ReadCap(MAX_LOCK_BYTES, "a lock")
    m = _KIND_RE.match(key)
    if m and m.group(1) == "snapshots":
        return ReadCap(MAX_MANIFEST_BYTES, "a manifest")
    if m and m.group(1) == "forgotten":
        return ReadCap(MAX_FORGET_BYTES, "a forget record")
    return ReadCap(MAX_PACK_BYTES, "a pack")


def registry_tag(tag_key: bytes, registry: str) -> str:
    return hmac.new(tag_key, registry.encode(), "sha256").hexdigest()[:24]


def bundle_key(seq: int) -> str:
    return f"{KEYS_PREFIX}bundle-{seq:010d}.json"


def bundle_seq(key: str) -> int | None:
    m = _BUNDLE_RE.match(key)
    return int(m.group(1)) if m else None


def registry_prefix(tag: str) -> str:
    return f"r/{tag}/"


def pack_key(tag: str, pack_id: str) -> str:
    return f"r/{tag}/packs/{pack_id[:2]}/{pack_id}"


def snapshot_key(tag: str, time: str, snapshot_id: str) -> str:
    return f"r/{tag}/snapshots/{time_for_key(time)}_{snapshot_id}"


def time_for_key(time: str) -> str:
    """``2026-11-27T08:21:46.123456Z`` -> ``20261127T082146.123456Z`` (sorts like the time)."""
    return time.replace("-", "").replace(":", "")


def parse_snapshot_key(key: str) -> tuple[str, str] | None:
    """(time part, snapshot id) of a snapshot object's key, or None if it is not one."""
    m = _SNAPSHOT_RE.match(key.rsplit("/", 1)[-1])
    return (m.group(1), m.group(2)) if m else None


def packs_prefix(tag: str) -> str:
    return f"r/{tag}/packs/"


def snapshots_prefix(tag: str) -> str:
    return f"r/{tag}/snapshots/"


def id_in_key(key: str) -> str | None:
    """The content id at the end of a content object's key, or None for anything else."""
    last = key.rsplit("/", 1)[-1]
    return last if _HEX64.match(last) else None
