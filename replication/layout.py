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

REPO_CONFIG = "embassy-repo.json"
KEYS_PREFIX = "keys/"
LOCKS_PREFIX = "locks/"
_BUNDLE_RE = re.compile(r"^keys/bundle-(\d{10})\.json$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SNAPSHOT_RE = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)_([0-9a-f]{64})$")


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
