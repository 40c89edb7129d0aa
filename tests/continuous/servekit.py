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

from conftest import run_cli
from web.conftest import fetch
from web.test_site_serve import free_port


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


def release(gate: Path) -> None:
    """Open the pipe for writing (without blocking when nobody reads it) and close it: the reader sees EOF."""
    try:
        fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no reader (yet, or any more)
        return
    os.close(fd)


