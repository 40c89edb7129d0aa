"""Canonical JSON and base64 helpers shared by the sealed keyring and the key bundle."""

import base64
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` the one way that is signed or MACed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
