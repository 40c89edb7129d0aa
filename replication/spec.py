"""Typed descriptions of registries, stores and policies, as the engine receives them.

The CLI builds these from ``embassy.toml`` (reading credentials from the environment there); the
engine never reads configuration files or environment variables itself.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

RegistryKind = Literal["directory", "sqlite", "command"]
StoreKind = Literal["s3", "filesystem"]


@dataclass(frozen=True, slots=True)
class RegistrySpec:
    name: str
    kind: RegistryKind
    path: Path | None = None
    command: tuple[str, ...] = ()
    # command: the whole environment the dump command runs with (nothing else is inherited)
    environment: tuple[tuple[str, str], ...] = field(default=(), repr=False)


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
