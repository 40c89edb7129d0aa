"""Recovery codes: ten one-time codes of 120 random bits each, stored as SHA-256 hashes.

With 120 bits (over the 112 at which OWASP ASVS allows a plain hash instead of a password hash)
a stolen table of hashes cannot be reversed by guessing. Codes are shown once, as six groups of
four Crockford base32 characters; typing ignores case, spaces and hyphens, and reads I and L as
1, O as 0.
"""

import hashlib
import secrets

COUNT = 10
LENGTH = 24  # characters of 5 bits: 120 bits
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_codes() -> list[str]:
    return ["-".join(_groups("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))) for _ in range(COUNT)]


def _groups(code: str) -> list[str]:
    return [code[i : i + 4] for i in range(0, len(code), 4)]


def normalise(code: str) -> str | None:
    clean = code.upper().replace(" ", "").replace("-", "").translate(_CONFUSABLE)
    if len(clean) != LENGTH or any(c not in ALPHABET for c in clean):
        return None
    return clean


def code_hash(code: str) -> bytes:
    """The stored form of a code (normalised first; a code that cannot be one hashes to nothing real)."""
    clean = normalise(code) or ""
    return hashlib.sha256(b"virtual-embassy/recovery/v1\n" + clean.encode()).digest()
