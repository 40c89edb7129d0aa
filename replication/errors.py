"""Errors of the replication engine. One root; each says what failed and where (store, object)."""


class ReplicationError(Exception):
    """Root of every error raised by the ``replication`` package."""


class StoreError(ReplicationError):
    """A store operation failed. ``store`` names the configured store."""

    def __init__(self, store: str, message: str) -> None:
        super().__init__(f"store {store}: {message}")
        self.store = store
        self.message = message


class ObjectNotFoundError(StoreError):
    """The object (or the bucket/folder) does not exist."""

    def __init__(self, store: str, key: str) -> None:
        super().__init__(store, f"object {key} not found")
        self.key = key


class StorePermanentError(StoreError):
    """A fault that retrying will not fix: wrong credentials, access denied, no such bucket."""


class StoreUnavailableError(StoreError):
    """A transient fault (timeout, 5xx, connection reset) that outlasted the retries."""


class ObjectLockedError(StorePermanentError):
    """The store refused to delete or overwrite an object held by a retention lock."""


class IntegrityError(ReplicationError):
    """Data from a store failed authentication or id checks: tampered, damaged or foreign."""


class ObjectTooLargeError(IntegrityError):
    """A store answered with more bytes than the format allows for that kind of object (or than
    the size a verified manifest gives): damaged or planted; the rest was never read."""

    def __init__(self, store: str, key: str, limit: int) -> None:
        from replication.layout import read_cap

        cap = read_cap(key)
        size = f"{limit >> 20} MiB" if limit == cap.limit and limit % (1 << 20) == 0 else f"{limit} bytes"
        super().__init__(f"store {store}: {key}: larger than the format allows for {cap.kind} ({size})")
        self.store = store
        self.key = key
        self.limit = limit


class ForeignRepositoryError(StoreError):
    """The store holds another mission's repository: set aside for the run, never written to."""

    def __init__(self, store: str, master_key_id: str) -> None:
        super().__init__(
            store,
            f"holds the repository of another mission (master key {master_key_id}); set aside, nothing written there",
        )
        self.master_key_id = master_key_id


class BundleConflictError(StoreError):
    """A store already holds a key bundle with our sequence number but other keys: publishing
    would silently leave the stores disagreeing on what that number means."""


class SignatureError(IntegrityError):
    """A signed object's signature does not verify with the mission's key: forged or re-signed."""


class RegistryReadError(ReplicationError):
    """A registry could not be read consistently (missing path, failed dump command, ...)."""


class RestoreTargetError(ReplicationError):
    """The restore target is unsafe or unsuitable (not empty, a path escaping it, a symlink)."""


class QuorumError(ReplicationError):
    """Fewer stores than the quorum hold a complete snapshot."""


class StoreBusyError(StoreError):
    """Another process holds a conflicting lock in the store (a prune while backing up, or the reverse)."""


class LockLostError(StoreError):
    """Our lock in a store lapsed (not refreshed in time): what it protected may have changed."""


class SnapshotNotFoundError(ReplicationError):
    """No snapshot matches the given id, prefix or 'latest' (in the stores asked), or a path asked
    for is not in the snapshot."""


def last_lines(stderr: bytes) -> str:
    """A child program's last lines of stderr, for an error message."""
    tail = stderr[-2000:].decode("utf-8", "replace").strip().splitlines()[-3:]
    return " | ".join(line.strip() for line in tail) or "no message"
