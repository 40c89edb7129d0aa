"""The hand-off from the supervisor of ``embassy serve`` to each serving worker: all a worker holds.

The supervisor writes it once to the worker's standard input (a pipe only the two share) and closes
it; the worker reads it before anything else. It carries the config without secrets and the
serving keys and the contact forms' key, never the keyring, a data key or the snapshot-signing key.
"""

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from embassy.config import Config
from keys.statement_keys import ServingKeys

MAX_HANDOFF = 1 << 20


class HandoffError(Exception):
    """The hand-off did not arrive whole (the supervisor died, or something else wrote the pipe)."""


@dataclass(frozen=True, slots=True)
class Handoff:
    config: Config  # Config.without_secrets()
    keys: ServingKeys
    host: str
    port: int
    metrics_dir: Path
    metrics_token: str | None
    ready_fd: int  # the worker writes one byte there once it listens
    supervisor: int  # the supervisor's pid
    # Signs the public forms' tokens and proof-of-work challenges: a subkey of the master key for
    # this one purpose (embassy/contact/guard.py), so every worker and every restart agree.
    contact_key: bytes = field(default=b"", repr=False)

    def encode(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def read(stream: BinaryIO) -> "Handoff":
        data = stream.read(MAX_HANDOFF + 1)
        if not data or len(data) > MAX_HANDOFF:
            raise HandoffError("no hand-off from the supervisor")
        handoff = pickle.loads(data)  # noqa: S301 - our own supervisor's bytes, over a pipe only it writes
        if not isinstance(handoff, Handoff):
            raise HandoffError("the hand-off is not one")
        return handoff
