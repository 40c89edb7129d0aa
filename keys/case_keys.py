"""Keys derived from a case's tracking code: how a case is found, and who can read its replies.

A tracking code holds 80 random bits (embassy/contact/codes.py). Argon2id of the code, under a
salt of the mission's own, gives 64 bytes: the first 32 are the case's *lookup* value (stored,
indexed: what a visitor's code is matched against), the last 32 seed an X25519 key pair whose
public half is stored with the case. Staff replies are sealed to it and to the inbox key, so the
code's holder and the mission's officers can read them, and nobody else: the server keeps no
code and no private half.

Strength: finding a code from a stolen database means guessing 80-bit codes at one Argon2id each
(16 MiB, 2 passes: ~27 ms on one core here), matched against every stored lookup value at once:
2^80 / N tries for N cases: for N = 10^6, 38 years at a billion tries a second, a rate that 16 MiB of
memory per try puts far beyond any hardware. The memory-hard KDF keeps dedicated hardware from doing much better than that;
the 80 bits alone would already make a fast hash infeasible on anything short of a mining farm.
The parameters travel with each case, so they can be raised later without breaking old codes.
"""

import json
from dataclasses import dataclass

from nacl import pwhash
from nacl.public import PrivateKey

from keys.errors import KeyringError

ALGORITHM = "argon2id13"
SALT_BYTES = pwhash.argon2id.SALTBYTES
MAX_MEMLIMIT = 256 * 1024 * 1024
MAX_OPSLIMIT = 16


class CaseKeyError(KeyringError):
    """Unusable parameters for deriving a case's keys."""


@dataclass(frozen=True, slots=True)
class CodeKdf:
    """Argon2id parameters for tracking codes (stored as JSON beside each case)."""

    opslimit: int = 2
    memlimit: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if not pwhash.argon2id.OPSLIMIT_MIN <= self.opslimit <= MAX_OPSLIMIT:
            raise CaseKeyError(f"tracking-code argon2id passes {self.opslimit} out of range")
        if not pwhash.argon2id.MEMLIMIT_MIN <= self.memlimit <= MAX_MEMLIMIT:
            raise CaseKeyError(f"tracking-code argon2id memory {self.memlimit} out of range")

    def to_json(self) -> str:
        return json.dumps({"alg": ALGORITHM, "opslimit": self.opslimit, "memlimit": self.memlimit}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CodeKdf":
        try:
            v = json.loads(text)
            if v["alg"] != ALGORITHM:
                raise CaseKeyError(f"unknown tracking-code key derivation {v['alg']!r}")
            return cls(int(v["opslimit"]), int(v["memlimit"]))
        except (ValueError, KeyError, TypeError) as e:
            raise CaseKeyError("unreadable tracking-code key derivation parameters") from e


@dataclass(frozen=True, slots=True)
class CaseKeys:
    lookup: bytes  # 32 bytes, stored
    private: bytes  # X25519 private half: never stored

    @property
    def public(self) -> bytes:
        return bytes(PrivateKey(self.private).public_key)


def derive_case_keys(code: str, salt: bytes, kdf: CodeKdf) -> CaseKeys:
    """The keys of the normalised tracking ``code`` (16 symbols and the check character, no
    separators). CPU and memory heavy by design: run it on a bounded pool."""
    if len(salt) != SALT_BYTES:
        raise CaseKeyError(f"the tracking-code salt must be {SALT_BYTES} bytes")
    out = pwhash.argon2id.kdf(64, code.encode("ascii"), salt, opslimit=kdf.opslimit, memlimit=kdf.memlimit)
    return CaseKeys(bytes(out[:32]), bytes(out[32:]))
