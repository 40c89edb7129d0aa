"""Exit codes of the `embassy` command (docs/commands.md) and the mapping of errors onto them."""

from keys import KeyringError
from replication.errors import (
    IntegrityError,
    QuorumError,
    RegistryReadError,
    ReplicationError,
    RestoreTargetError,
    SnapshotNotFoundError,
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


def error_roots() -> tuple[type[Exception], ...]:
    """The root error of every part of the project: each is reported as its one-line message (and
    an exit code), never as an internal error. Imported only when an error is being reported."""
    from embassy.config import ConfigError
    from embassy.contact.errors import ContactError
    from embassy.content.errors import ContentError
    from embassy.migrations import MigrationError
    from embassy.mirror.errors import MirrorError
    from embassy.publishing.errors import PublishingError
    from embassy.staff.errors import StaffError
    from embassy.web.handoff import HandoffError
    from embassy.web.params import InputError
    from embassy.web.ratelimit import RateLimitError
    from embassy.web.workers import ServeError

    return (
        CliError,
        ConfigError,
        ContactError,
        ContentError,
        HandoffError,
        InputError,
        KeyringError,
        MigrationError,
        MirrorError,
        PublishingError,
        RateLimitError,
        ReplicationError,
        ServeError,
        StaffError,
        OSError,
    )


def exit_code_for(e: BaseException) -> int:
    from embassy.config import ConfigError

    if isinstance(e, CliError):
        return e.exit_code
    if isinstance(e, ConfigError | RestoreTargetError | SnapshotNotFoundError):
        return USAGE
    if isinstance(e, KeyringError | IntegrityError):
        return INTEGRITY
    if isinstance(e, QuorumError | StoreError | RegistryReadError | ReplicationError):
        return FAILED
    return FAILED
