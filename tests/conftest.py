"""Shared fixtures: real SeaweedFS S3 stores on loopback, keyrings, configs, and the CLI."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))

from dev_postgres import PostgresServer  # noqa: E402
from dev_postgres import running as running_postgres  # noqa: E402
from dev_stores import LOCKED_BUCKET, PLAIN_BUCKET, DevStore, make_stores, start_all, stop_all  # noqa: E402

from keys import KdfParams, Keyring  # noqa: E402

PASSPHRASE = "test passphrase, long enough"


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C back to Python's default, for the suite and every process it starts.

    A shell without job control starts a background command (`make test &`, `nohup make test`)
    with SIGINT ignored, and each child inherits that: the tests that interrupt a backup, a drill
    or the development stores with SIGINT would find it ignored (as the commands rightly leave it
    when started so). A Python handler is reset to the default in a child at exec.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[DevStore]]:
    """Three independent SeaweedFS S3 servers on loopback for the whole session, stopped by PID."""
    root = tmp_path_factory.mktemp("seaweed")
    stores = make_stores(3, root, start_port=21000 + (os.getpid() % 50) * 200, names=["s1", "s2", "s3"])
    start_all(stores)
    try:
        yield stores
    finally:
        stop_all(stores)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a loopback port for the whole session; each test makes its own database."""
    with running_postgres() as server:
        yield server


@dataclass
class S3Target:
    """One bucket on one dev store, with a unique prefix-free bucket per test where needed."""

    store: DevStore
    bucket: str


_admin_clients: dict[str, object] = {}


def fresh_bucket(store: DevStore, locked: bool = False) -> str:
    """A new empty bucket, so tests never see each other's objects."""
    name = f"t-{secrets.token_hex(6)}"
    if store.endpoint not in _admin_clients:  # a boto3 client takes ~0.2 s to build
        _admin_clients[store.endpoint] = store.client()
    client: Any = _admin_clients[store.endpoint]
    if locked:
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    else:
        client.create_bucket(Bucket=name)
    return name


def s3_store_toml(name: str, store: DevStore, bucket: str, jurisdiction: str = "LU", lock_days: int = 0) -> str:
    return (
        f'[[stores]]\nname = "{name}"\nkind = "s3"\nendpoint = "{store.endpoint}"\nbucket = "{bucket}"\n'
        f'jurisdiction = "{jurisdiction}"\naccess_key_env = "TEST_S3_ACCESS"\nsecret_key_env = "TEST_S3_SECRET"\n'
        f"object_lock_days = {lock_days}\n"
    )


def s3_env(store: DevStore) -> dict[str, str]:
    return {"TEST_S3_ACCESS": store.access_key, "TEST_S3_SECRET": store.secret_key}


def make_test_keyring(path: Path, registries: list[str], passphrase: str = PASSPHRASE) -> Keyring:
    """A keyring sealed with low-cost Argon2id parameters through the library API (tests only)."""
    ring = Keyring.create(registries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ring.seal(passphrase.encode(), KdfParams.low_cost_for_tests()))
    path.chmod(0o600)
    return ring


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of every TCP and UDP socket the process listens on."""
    out = subprocess.run(["ss", "-H", "-l", "-t", "-u", "-n", "-p"], capture_output=True, text=True, check=True)
    return [line.split()[4] for line in out.stdout.splitlines() if f"pid={pid}," in line]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 300,
) -> CliResult:
    """Run the real `embassy` command in a subprocess, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "embassy", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


__all__ = [
    "LOCKED_BUCKET",
    "PASSPHRASE",
    "PLAIN_BUCKET",
    "CliResult",
    "S3Target",
    "fresh_bucket",
    "listening_addresses",
    "make_test_keyring",
    "run_cli",
    "s3_env",
    "s3_store_toml",
]
