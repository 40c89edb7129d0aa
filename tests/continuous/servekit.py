"""A real `embassy serve --workers 2` for the continuous-replication tests, and waiting on what it publishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import PASSPHRASE, fresh_bucket, make_test_keyring, run_cli, s3_env, s3_store_toml
from dev_stores import DevStore
from web.conftest import fetch
from web.test_site_serve import free_port

from embassy.config import load_config


@dataclass
class Server:
    root: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[str]
    gate: Path | None

    def log(self) -> str:
        return (self.root / "serve.log").read_text()

    def stop(self) -> int:
        """SIGTERM, and the exit status (idempotent)."""
        if self.gate is not None:
            release(self.gate)  # a dump still waiting on the pipe ends
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def document(self) -> dict[str, Any]:
        path = self.root / "var" / "run" / "replication.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def registry(self, name: str) -> dict[str, Any]:
        for reg in self.document().get("registries", []):
            if reg["name"] == name:
                return reg  # type: ignore[no-any-return]
        return {}

    def snapshots(self, registry: str) -> list[dict[str, Any]]:
        """The registry's snapshots as the stores hold them (`embassy snapshots`, a separate process)."""
        done = run_cli("snapshots", "--registry", registry, "--json", cwd=self.root, env=self.env)
        assert done.code == 0, done.err
        return json.loads(done.out)["snapshots"]  # type: ignore[no-any-return]

    def metrics(self) -> str:
        return fetch(self.base, "/metrics").body.decode()


def wait_for(what: str, condition: Callable[[], Any], deadline: float) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {deadline} s: {what}")


@contextmanager
def serving(root: Path, env: dict[str, str], gate: Path | None = None) -> Iterator[Server]:
    """The server, its log lines in ``root/serve.log``; stopped (SIGTERM) at the end."""
    port = free_port()
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}, **env}
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "embassy", "serve", "--port", str(port), "--workers", "2"],
        cwd=root, env=full_env, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    srv = Server(root, port, env, proc, gate)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("serving"), srv.log()
        yield srv
    finally:
        srv.stop()
        log.close()


@contextmanager
def serving_three_stores(root: Path, seaweed: list[DevStore], head: str, gate: Path | None = None) -> Iterator[Server]:
    """`serving` of a mission whose config is ``head`` (mission, server, registries) and three
    stores (two folders, lu and ee, and a fresh bucket ch of the first SeaweedFS server), quorum 2,
    every 5 s, with a test keyring for its registries."""
    (root / "embassy.toml").write_text(
        head
        + '[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "stores/lu"\njurisdiction = "LU"\n'
        + '[[stores]]\nname = "ee"\nkind = "filesystem"\npath = "stores/ee"\njurisdiction = "EE"\n'
        + s3_store_toml("ch", seaweed[0], fresh_bucket(seaweed[0]), "CH")
        + '[replication]\ninterval = "5s"\nquorum = 2\n'
    )
    env = {**s3_env(seaweed[0]), "EMBASSY_PASSPHRASE": PASSPHRASE}
    config = load_config(root / "embassy.toml", env)
    make_test_keyring(config.keyring_path, [r.name for r in config.registries])
    with serving(root, env, gate) as srv:
        yield srv


def release(gate: Path) -> None:
    """Open the pipe for writing (without blocking when nobody reads it) and close it: the reader sees EOF."""
    try:
        fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no reader (yet, or any more)
        return
    os.close(fd)


