"""Typed descriptions of registries, stores and policies, as the engine receives them.

The CLI builds these from ``embassy.toml`` (reading credentials from the environment there); the
engine never reads configuration files or environment variables itself.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

RegistryKind = Literal["directory", "sqlite", "command", "postgres"]
StoreKind = Literal["s3", "filesystem"]


@dataclass(frozen=True, slots=True)
class PostgresSpec:
    """Where a PostgreSQL registry lives. The password, if any, is ``PGPASSWORD`` in the registry's
    environment (never here, never on a command line)."""

    database: str
    host: str | None = None  # None: libpq's default (the local socket)
    port: int = 5432
    user: str | None = None  # None: libpq's default (the OS user)

    def describe(self) -> str:
        where = f"{self.host}:{self.port}" if self.host else f"the local socket (port {self.port})"
        return f"database {self.database} at {where}" + (f" as {self.user}" if self.user else "")


@dataclass(frozen=True, slots=True)
class RegistrySpec:
    name: str
    kind: RegistryKind
    path: Path | None = None
    command: tuple[str, ...] = ()
    # command and postgres: the whole environment the dump command runs with (nothing else is inherited)
    environment: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    postgres: PostgresSpec | None = None


@dataclass(frozen=True, slots=True)
class S3Credentials:
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class StoreSpec:
    name: str
    kind: StoreKind
    jurisdiction: str = ""
    object_lock_days: int = 0
    # seconds: a request with no answer within it has failed (transient), and the store is set aside
    request_timeout: float = 10.0
    # s3
    endpoint: str | None = None
    bucket: str | None = None
    region: str = "us-east-1"
    credentials: S3Credentials | None = field(default=None, repr=False)
    # filesystem
    path: Path | None = None
    # where `embassy mirror` publishes the static site: a bucket on the same endpoint (s3), a folder (filesystem)
    mirror_bucket: str | None = None
    mirror_path: Path | None = None

    def describe(self) -> str:
        if self.kind == "s3":
            return f"s3 {self.endpoint}/{self.bucket}"
        return f"filesystem {self.path}"


@dataclass(frozen=True, slots=True)
class KeepPolicy:
    last: int = 10
    daily: int = 14
    weekly: int = 8
    monthly: int = 12
