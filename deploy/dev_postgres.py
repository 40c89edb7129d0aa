"""A real PostgreSQL server for the tests and benchmarks: Debian's binaries, a data folder of its own, loopback only.

The server refuses to run as root, so under root the folder belongs to the ``postgres`` system
user (made by Debian's package) and initdb / pg_ctl run as that user through ``runuser``. TCP
connections need a password (scram-sha-256); the superuser ``embassy`` has the one given here.
``pg_ctl --wait`` returns once the server accepts connections: no polling, no sleeping.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SUPERUSER = "embassy"


def bin_dir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run `make system-deps` (Debian's postgresql package)")
    return versions[-1].parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    root: Path
    port: int
    password: str
    bin: Path
    host: str = "127.0.0.1"
    user: str = SUPERUSER

    def connect(self, database: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database, **kwargs
        )

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def databases(self) -> list[str]:
        with self.connect() as conn:
            return [r[0] for r in conn.execute("SELECT datname FROM pg_database ORDER BY 1").fetchall()]

    def registry_toml(self, name: str, database: str, password_env: str = "TEST_PGPASSWORD", **over: Any) -> str:  # noqa: S107
        keys = {"host": self.host, "port": self.port, "user": self.user, **over}
        body = "".join(f"{k} = {v!r}\n" if isinstance(v, int) else f'{k} = "{v}"\n' for k, v in keys.items())
        return (
            f'[[registries]]\nname = "{name}"\nkind = "postgres"\ndatabase = "{database}"\n{body}'
            f'password_env = "{password_env}"\n'
        )


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start(root: Path | None = None) -> PostgresServer:
    binaries = bin_dir()
    # Not under pytest's 0700 folders: the postgres user must reach its data folder.
    root = root or Path(tempfile.mkdtemp(prefix="embassy-pg-"))
    root.chmod(0o700)
    password = secrets.token_urlsafe(18)
    (root / "pw").write_text(password + "\n")
    (root / "pw").chmod(0o600)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, root / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    data = root / "data"
    subprocess.run(
        _as_owner([
            str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={root / 'pw'}",
            "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--no-sync",
            "--locale=C.UTF-8",
        ]),
        check=True, capture_output=True,
    )  # fmt: skip
    (root / "pw").unlink()
    server = PostgresServer(root, free_port(), password, binaries)
    options = (
        f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
        "-c synchronous_commit=off -c shared_buffers=64MB -c max_connections=40"
    )
    subprocess.run(
        _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"]),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return server


def stop(server: PostgresServer) -> None:
    with contextlib.suppress(subprocess.SubprocessError):
        subprocess.run(
            _as_owner([str(server.bin / "pg_ctl"), "-D", str(server.root / "data"), "-m", "fast", "-w", "stop"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    shutil.rmtree(server.root, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[PostgresServer]:
    server = start()
    try:
        yield server
    finally:
        stop(server)
