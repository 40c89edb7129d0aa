"""SeaweedFS S3 stores on loopback for a benchmark run (``deploy/dev_stores.py``), tied to our life."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.procs import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))

import dev_stores  # noqa: E402
from dev_stores import DevStore  # noqa: E402

__all__ = ["BenchStore", "DevStore", "bucket_usage", "create_bucket", "start_stores", "stop_stores"]


class BenchStore(DevStore):  # type: ignore[misc]  # deploy/ is not a package mypy sees
    """A dev store whose ``weed`` also dies when the benchmark process dies (even by SIGKILL)."""

    def start(self, weed: str | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        with (self.folder / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command(weed or dev_stores.find_weed()),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )


def start_stores(names: list[str], root: Path, start_port: int) -> list[DevStore]:
    """Independent stores, one ``weed mini`` each, ready with their buckets; stopped on failure."""
    plain = dev_stores.make_stores(len(names), root, start_port=start_port, names=names)
    stores: list[DevStore] = [BenchStore(s.name, s.folder, s.ports, s.access_key, s.secret_key) for s in plain]
    dev_stores.start_all(stores)
    return stores


def stop_stores(stores: list[DevStore]) -> None:
    dev_stores.stop_all(stores)


def create_bucket(store: DevStore, bucket: str) -> None:
    client: Any = store.client()
    have = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in have:
        client.create_bucket(Bucket=bucket)


def bucket_usage(store: DevStore, bucket: str, prefix: str = "") -> tuple[int, int]:
    """(bytes, objects) in ``bucket``: the live objects' sizes, as listed by the S3 API."""
    client: Any = store.client()
    total = count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            total += int(obj["Size"])
            count += 1
    return total, count
