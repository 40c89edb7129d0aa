"""The signed manifest of a static mirror (``embassy-mirror.json``, docs/format.md "Static mirrors").

Bytes in, values out; no I/O. The document is::

    {"mirror": {"format": "embassy-mirror", "version": 1, "mission", "public_url", "created",
                "key_id", "files": {NAME: {"sha256": "<64 hex>", "size": N, "type": "<Content-Type>"}}},
     "signature": {"algorithm": "ed25519", "key_id", "value": "<base64>"}}

signed with the mission's statement-signing key over
``b"virtual-embassy/mirror/v1\\n" || canonical_json(mirror)``: the domain keeps the signature from
being valid as a statement or a keys document. A reader trusts the mission's statement keys (the
keyring, or an ``embassy-keys.json`` obtained from the mission, never the one in the mirror being
checked alone) and then every listed file's size and SHA-256 (``sha256sum`` checks them too).
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from embassy.content.statements import TrustedKey
from embassy.mirror.errors import MirrorError
from embassy.mirror.paths import MANIFEST_NAME, MirrorNameError, check_name
from keys.encoding import b64d, b64e, canonical_json

FORMAT = "embassy-mirror"
VERSION = 1
DOMAIN = b"virtual-embassy/mirror/v1\n"
MAX_MANIFEST = 16 << 20  # a manifest larger than this is not read


class ManifestError(MirrorError):
    """A manifest that is malformed, signed by a key not trusted, or altered."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    sha256: str
    size: int
    content_type: str

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "type": self.content_type}


def entry_for(data: bytes, content_type: str) -> FileEntry:
    return FileEntry(hashlib.sha256(data).hexdigest(), len(data), content_type)


@dataclass(frozen=True, slots=True)
class Manifest:
    mission: str
    public_url: str
    created: str
    key_id: str
    files: Mapping[str, FileEntry] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "mission": self.mission,
            "public_url": self.public_url,
            "created": self.created,
            "key_id": self.key_id,
            "files": {name: self.files[name].to_json() for name in sorted(self.files)},
        }

    def sign(self, key: SigningKey) -> bytes:
        """The document's bytes, signed with ``key`` (whose id is ``key_id``)."""
        body = self.body()
        value = key.sign(DOMAIN + canonical_json(body)).signature
        doc = {"mirror": body, "signature": {"algorithm": "ed25519", "key_id": self.key_id, "value": b64e(value)}}
        return (json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode()


def verify_manifest(data: bytes, trusted: Mapping[str, TrustedKey]) -> Manifest:
    """The manifest in ``data`` if it is well formed and signed by one of ``trusted`` (valid when it was
    made). Raises :class:`ManifestError` saying what is wrong."""
    if len(data) > MAX_MANIFEST:
        raise ManifestError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST >> 20} MiB")
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise ManifestError(f"{MANIFEST_NAME} is not JSON: {e}") from e
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("mirror"), dict)
        or not isinstance(doc.get("signature"), dict)
    ):
        raise ManifestError(f'{MANIFEST_NAME} is not a mirror manifest: expected {{"mirror": ..., "signature": ...}}')
    body, sig = doc["mirror"], doc["signature"]
    if body.get("format") != FORMAT or body.get("version") != VERSION:
        raise ManifestError(f"unsupported manifest format {body.get('format')!r} version {body.get('version')!r}")
    key_id = sig.get("key_id")
    if sig.get("algorithm") != "ed25519" or key_id != body.get("key_id"):
        raise ManifestError("the signature is not ed25519 or names another key than the manifest")
    key = trusted.get(str(key_id))
    if key is None:
        raise ManifestError(f"signed by key {key_id!r}, which is not among the mission's statement keys")
    try:
        VerifyKey(key.public).verify(DOMAIN + canonical_json(body), b64d(str(sig.get("value", ""))))
    except (BadSignatureError, ValueError) as e:
        raise ManifestError(f"the signature does not verify with key {key_id}: the manifest was altered") from e
    try:
        created = str(body["created"])
        if key.valid_until is not None and _time(created) > _time(key.valid_until):
            raise ManifestError(f"signed by key {key_id}, retired at {key.valid_until}, but made at {created}")
        files = {check_name(str(name)): _entry(v) for name, v in body["files"].items()}
        return Manifest(str(body["mission"]), str(body["public_url"]), created, str(key_id), files)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        if isinstance(e, ManifestError):
            raise
        what = str(e) if isinstance(e, MirrorNameError) else f"{type(e).__name__}: {e}"
        raise ManifestError(f"{MANIFEST_NAME} is signed but malformed: {what}") from e


def _entry(v: Any) -> FileEntry:
    sha, size, ctype = v["sha256"], v["size"], v["type"]
    if not (isinstance(sha, str) and len(sha) == 64 and isinstance(size, int) and size >= 0 and isinstance(ctype, str)):
        raise ValueError(f"bad file entry {v!r}")
    return FileEntry(sha, size, ctype)


def _time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FileProblem:
    name: str
    problem: str  # "missing" | "size" | "hash"

    def __str__(self) -> str:
        words = {"missing": "missing", "size": "altered (size differs)", "hash": "altered (SHA-256 differs)"}
        return f"{self.name}: {words.get(self.problem, self.problem)}"


def check_file(name: str, entry: FileEntry, data: bytes | None) -> FileProblem | None:
    """What is wrong with ``data`` as the manifest's ``name``, or None."""
    if data is None:
        return FileProblem(name, "missing")
    if len(data) != entry.size:
        return FileProblem(name, "size")
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        return FileProblem(name, "hash")
    return None
