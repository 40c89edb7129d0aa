"""Where each object lives in a store. docs/format.md describes the same layout for auditors.

    embassy-repo.json                     repository config (format version), MAC'd
    keys/bundle-<seq:010d>.json           key bundles; the highest valid seq is current
    r/<registry tag>/packs/<id[:2]>/<id>  pack objects; id = BLAKE3-256 of the pack's bytes
    r/<registry tag>/index/<id>           pack indexes; id = BLAKE3-256 of the object's bytes
    r/<registry tag>/snapshots/<id>       snapshot manifests; id = BLAKE3-256 of the object's bytes
    locks/<holder>                        prune/backup coordination

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


def index_key(tag: str, index_id: str) -> str:
    return f"r/{tag}/index/{index_id}"


def snapshot_key(tag: str, snapshot_id: str) -> str:
    return f"r/{tag}/snapshots/{snapshot_id}"


def packs_prefix(tag: str) -> str:
    return f"r/{tag}/packs/"


def index_prefix(tag: str) -> str:
    return f"r/{tag}/index/"


def snapshots_prefix(tag: str) -> str:
    return f"r/{tag}/snapshots/"


def object_id(key: str) -> str | None:
    """The content id at the end of a content object's key, or None for anything else."""
    last = key.rsplit("/", 1)[-1]
    return last if _HEX64.match(last) else None
