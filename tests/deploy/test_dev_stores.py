"""`deploy/dev-stores` as a developer runs it: real SeaweedFS processes, loopback only, Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from conftest import ROOT, listening_addresses


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if marker in line:
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    if not done.wait(timeout):
        proc.kill()
        raise AssertionError(f"no {marker!r} within {timeout}s: {lines}")
    return lines


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match
    return int(match.group(1)) / 1024


def test_dev_stores_command(tmp_path: Path) -> None:
    # As a developer starts it from a shell: the script itself, no virtualenv on PATH.
    path = ":".join(p for p in os.environ.get("PATH", "").split(":") if ".venv" not in p)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")} | {"PATH": path}
    port = 40000 + (os.getpid() % 40) * 100
    proc = subprocess.Popen(
        [str(ROOT / "deploy" / "dev-stores"), "2", "--dir", str(tmp_path / "stores"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    pids: list[int] = []
    try:
        lines = _read_until(proc, "Ctrl-C stops them.", 60)
        text = "\n".join(lines)
        stores = re.findall(r"^  (store\d): (http://127\.0\.0\.1:\d+) +\(pid (\d+), data (\S+)\)$", text, re.M)
        assert [s[0] for s in stores] == ["store1", "store2"], text
        pids = [int(s[2]) for s in stores]
        ready = re.search(r"^ready in ([\d.]+)s", text, re.M)
        assert ready, text
        keys = re.search(r"^export DEV_ACCESS_KEY=(\S+) DEV_SECRET_KEY=(\S+)$", text, re.M)
        assert keys, text

        for _, endpoint, pid_text, folder in stores:
            pid = int(pid_text)
            assert Path(folder).is_dir() and Path(folder).is_relative_to(tmp_path)
            addresses = listening_addresses(pid)
            assert len(addresses) >= 5, addresses  # master, volume, filer, s3 and their gRPC ports
            assert all(a.startswith("127.0.0.1:") for a in addresses), addresses
            assert f"127.0.0.1:{endpoint.rsplit(':', 1)[1]}" in addresses

            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=keys.group(1),
                aws_secret_access_key=keys.group(2),
                region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}),
            )
            assert {b["Name"] for b in client.list_buckets()["Buckets"]} == {"embassy", "embassy-locked"}
            lock = client.get_object_lock_configuration(Bucket="embassy-locked")["ObjectLockConfiguration"]
            assert lock["ObjectLockEnabled"] == "Enabled"
            with pytest.raises(botocore.exceptions.ClientError, match="ObjectLockConfigurationNotFound"):
                client.get_object_lock_configuration(Bucket="embassy")
            # Started with credentials: anonymous requests are refused.
            anonymous = boto3.client(
                "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
            )
            with pytest.raises(botocore.exceptions.ClientError, match=r"AccessDenied|403"):
                anonymous.list_objects_v2(Bucket="embassy")

        time.sleep(2)
        rss = _rss_mib(pids[0])
        print(f"\ndev-stores: 2 stores ready in {ready.group(1)} s; idle RSS of one store {rss:.0f} MiB")
        assert rss < 400

        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        stopped = time.monotonic() - started
        assert proc.stdout is not None
        assert "stopping ..." in proc.stdout.read()
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists(), f"weed {pid} still running"
        assert stopped < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids:
            if Path(f"/proc/{pid}").exists():
                os.killpg(pid, signal.SIGKILL)
