"""A mission with three real SeaweedFS stores abroad and registries of every kind."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PASSPHRASE, fresh_bucket, make_test_keyring, run_cli, s3_env, s3_store_toml

MARKER = "PLAINTEXT-MARKER-7f3a9c"
MTIME_NS = 1_700_000_000_123_456_789


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_directory_registry(root: Path) -> None:
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "c" / "deep.txt").write_text(f"deep {MARKER}\n")
    (root / "Ünïcödé файл.csv").write_text("id,имя\n1,Айгерим\n" * 200, encoding="utf-8")
    (root / "empty.dat").write_bytes(b"")
    secret = root / "restricted.csv"
    secret.write_text(f"{MARKER},confidential\n" * 1000)
    secret.chmod(0o640)
    big = bytearray(os.urandom(3 << 20)) + (MARKER.encode() * 100_000)
    (root / "a" / "big.bin").write_bytes(bytes(big))
    os.symlink("a/b/c/deep.txt", root / "link-in")
    os.symlink("/etc/hostname", root / "link-out")
    os.utime(root / "restricted.csv", ns=(MTIME_NS, MTIME_NS))
    os.utime(root / "a" / "b", ns=(MTIME_NS, MTIME_NS))


def make_sqlite_registry(path: Path, rows: int = 20000) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT, note TEXT)")
    db.execute("CREATE INDEX person_name ON person(name)")
    db.executemany(
        "INSERT INTO person (name, note) VALUES (?, ?)", ((f"person {i}", f"{MARKER} row {i}") for i in range(rows))
    )
    db.commit()
    db.close()


DUMP_SCRIPT = f"""
import sys
for i in range(50000):
    sys.stdout.write(f"INSERT INTO t VALUES ({{i}}, '{MARKER} {{i * 7919 % 10007}}');\\n")
"""


@dataclass
class Mission:
    root: Path
    config: Path
    env: dict[str, str]
    buckets: dict[str, str]

    def cli(self, *args: str, extra_env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return run_cli("--config", str(self.config), *args, env={**self.env, **(extra_env or {})}, cwd=self.root)


def write_config(root: Path, stores_toml: str, quorum: int | None = None, registries: str | None = None) -> Path:
    regs = (
        registries
        if registries is not None
        else f"""
[[registries]]
name = "population"
kind = "directory"
path = "registries/population"

[[registries]]
name = "cadastre"
kind = "sqlite"
path = "registries/cadastre.db"

[[registries]]
name = "civil-dump"
kind = "command"
command = ["{sys.executable}", "registries/dump.py"]
"""
    )
    repl = f"[replication]\nquorum = {quorum}\n" if quorum else ""
    text = f'[mission]\nname = "Test Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n{regs}\n{stores_toml}\n{repl}'
    path = root / "embassy.toml"
    path.write_text(text)
    return path


def build_mission(
    root: Path,
    seaweed,
    quorum: int | None = None,
    locked: bool = False,  # type: ignore[no-untyped-def]
    lock_days: int = 0,
) -> Mission:
    regs = root / "registries"
    (regs / "population").mkdir(parents=True)
    make_directory_registry(regs / "population")
    make_sqlite_registry(regs / "cadastre.db")
    (regs / "dump.py").write_text(DUMP_SCRIPT)
    buckets = {}
    stores = ""
    for name, store, juris in zip(("lu", "ee", "ch"), seaweed, ("LU", "EE", "CH"), strict=True):
        buckets[name] = fresh_bucket(store, locked=locked)
        stores += s3_store_toml(name, store, buckets[name], juris, lock_days) + "\n"
    config = write_config(root, stores, quorum)
    make_test_keyring(root / "var" / "keyring", ["population", "cadastre", "civil-dump"])
    env = {**s3_env(seaweed[0]), "EMBASSY_PASSPHRASE": PASSPHRASE}
    return Mission(root, config, env, buckets)


@pytest.fixture(scope="module")
def mission(tmp_path_factory: pytest.TempPathFactory, seaweed) -> Mission:  # type: ignore[no-untyped-def]
    return build_mission(tmp_path_factory.mktemp("mission"), seaweed)


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under root: type, permission bits, mtime, and content or link target."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, p.read_bytes())
    return out
