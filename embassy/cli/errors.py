"""Exit codes of the `embassy` command (docs/commands.md) and the mapping of errors onto them."""

from keys import KeyringError
from replication.errors import (
    IntegrityError,
    QuorumError,
    RegistryReadError,
    ReplicationError,
    RestoreTargetError,
    StoreError,
)

OK = 0
PROBLEMS = 1
USAGE = 2
DEGRADED = 3
INTEGRITY = 4
FAILED = 5


class CliError(Exception):
    """An error the CLI reports as one line with a given exit code."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_for(e: BaseException) -> int:
    from embassy.config import ConfigError

    if isinstance(e, CliError):
        return e.exit_code
    from replication.restore import SnapshotNotFoundError

    if isinstance(e, ConfigError | RestoreTargetError | SnapshotNotFoundError):
        return USAGE
    if isinstance(e, KeyringError | IntegrityError):
        return INTEGRITY
    if isinstance(e, QuorumError | StoreError | RegistryReadError | ReplicationError):
        return FAILED
    return FAILED
