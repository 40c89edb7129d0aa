"""Argon2id parameters for sealing the keyring with a passphrase.

The parameters travel in the keyring file beside the salt, so they can be raised later without
breaking keyrings sealed before. The default costs 64 MiB and 18 passes, about 0.5 s on a 2-core
machine: the SENSITIVE preset (1 GiB, ~3 s) is too much for a command that unlocks on every run,
and 64 MiB (rather than 128 MiB with fewer passes) leaves room under the engine's 256 MiB peak.
"""

from dataclasses import dataclass
from typing import Any

from nacl import pwhash

from keys.encoding import b64d, b64e
from keys.errors import WrongPassphraseError

ALGORITHM = "argon2id13"
DEFAULT_OPSLIMIT = 18
DEFAULT_MEMLIMIT = 64 * 1024 * 1024
SALT_BYTES = pwhash.argon2id.SALTBYTES
# What a keyring file may ask of us: a hostile file must not make unlock take minutes or GiBs.
MAX_OPSLIMIT = 64
MAX_MEMLIMIT = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KdfParams:
    opslimit: int = DEFAULT_OPSLIMIT
    memlimit: int = DEFAULT_MEMLIMIT

    def __post_init__(self) -> None:
        if not pwhash.argon2id.OPSLIMIT_MIN <= self.opslimit <= MAX_OPSLIMIT:
            raise ValueError(f"argon2id opslimit {self.opslimit} out of range")
        if not pwhash.argon2id.MEMLIMIT_MIN <= self.memlimit <= MAX_MEMLIMIT:
            raise ValueError(f"argon2id memlimit {self.memlimit} out of range")

    @classmethod
    def low_cost_for_tests(cls) -> "KdfParams":
        """The smallest parameters libsodium accepts: for test keyrings, never for real ones."""
        return cls(opslimit=pwhash.argon2id.OPSLIMIT_MIN, memlimit=pwhash.argon2id.MEMLIMIT_MIN)

    def derive(self, passphrase: bytes, salt: bytes) -> bytes:
        return bytes(pwhash.argon2id.kdf(32, passphrase, salt, opslimit=self.opslimit, memlimit=self.memlimit))

    def to_json(self, salt: bytes) -> dict[str, Any]:
        return {"alg": ALGORITHM, "opslimit": self.opslimit, "memlimit": self.memlimit, "salt": b64e(salt)}

    @classmethod
    def from_json(cls, value: Any) -> tuple["KdfParams", bytes]:
        try:
            if value["alg"] != ALGORITHM:
                raise WrongPassphraseError("unknown key derivation")
            params = cls(opslimit=int(value["opslimit"]), memlimit=int(value["memlimit"]))
            salt = b64d(value["salt"])
        except (KeyError, TypeError, ValueError) as e:
            raise WrongPassphraseError("bad key derivation parameters") from e
        if len(salt) != SALT_BYTES:
            raise WrongPassphraseError("bad salt")
        return params, salt
