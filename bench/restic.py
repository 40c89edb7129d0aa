"""The peer: restic (Debian's 0.14, zstd by default) on its own SeaweedFS store, driven as a user would.

It backs up the dataset folder (``files/`` and ``db/`` side by side) from inside it, so the
snapshot's root tree holds ``files`` and ``db`` and the restore lands them straight in the target.
"""

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from bench.stores import DevStore, bucket_usage, create_bucket

HOST = "bench"  # fixed, so every backup finds its parent snapshot (restic's files cache)


def available() -> str | None:
    """restic's version line, or None when it is not installed."""
    exe = shutil.which("restic")
    if not exe:
        return None
    m = procs.run([exe, "version"], timeout=30)
    return m.stdout.strip() if m.ok else None


@dataclass
class Restic:
    store: DevStore
    bucket: str
    cache_dir: Path
    timeout: float = 600.0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
        env.update(
            RESTIC_REPOSITORY=f"s3:{self.store.endpoint}/{self.bucket}",
            RESTIC_PASSWORD=self.password,
            RESTIC_CACHE_DIR=str(self.cache_dir),
            AWS_ACCESS_KEY_ID=self.store.access_key,
            AWS_SECRET_ACCESS_KEY=self.store.secret_key,
        )
        return env

    def run(self, *args: str, cwd: Path | None = None) -> procs.Measured:
        return procs.run(["restic", *args], self.env, cwd=cwd, timeout=self.timeout)

    def init(self) -> procs.Measured:
        create_bucket(self.store, self.bucket)
        return self.run("init")

    def backup(self, source: Path) -> tuple[procs.Measured, dict[str, Any]]:
        """Back up ``source`` (from inside it); returns the run and restic's JSON summary."""
        m = self.run("backup", "--host", HOST, "--json", "--quiet", ".", cwd=source)
        summary: dict[str, Any] = {}
        for line in m.stdout.splitlines():
            if '"summary"' in line:
                summary = json.loads(line)
        return m, summary

    def restore(self, target: Path) -> procs.Measured:
        return self.run("restore", "latest", "--target", str(target))

    def check_read_data(self) -> procs.Measured:
        return self.run("check", "--read-data")

    def stored_bytes(self) -> int:
        return bucket_usage(self.store, self.bucket)[0]

    # -- attributing new data to one file (restic reports only totals) -----------------------------

    def _json(self, *args: str) -> Any:
        m = self.run(*args)
        if not m.ok:
            raise RuntimeError(f"restic {' '.join(args)}: {m.last_error_line()}")
        return json.loads(m.stdout)

    def index_ids(self) -> set[str]:
        m = self.run("list", "index")
        if not m.ok:
            raise RuntimeError(f"restic list index: {m.last_error_line()}")
        return set(m.stdout.split())

    def data_blobs(self, index_ids: set[str]) -> dict[str, tuple[int, int]]:
        """Blob id -> (stored length, uncompressed length) for the data blobs of these index files."""
        out: dict[str, tuple[int, int]] = {}
        for idx in sorted(index_ids):
            for pack in self._json("cat", "index", idx).get("packs", []):
                for blob in pack.get("blobs", []):
                    if blob.get("type") == "data":
                        length = int(blob["length"])
                        out[blob["id"]] = (length, int(blob.get("uncompressed_length") or length))
        return out

    def file_blobs(self, rel_path: str) -> list[str]:
        """The data blob ids of ``rel_path`` (relative to the backed-up folder) in the latest snapshot."""
        snap = self._json("snapshots", "--json", "--host", HOST, "latest")[0]
        tree = snap["tree"]
        parts = rel_path.split("/")
        for i, name in enumerate(parts):
            nodes = self._json("cat", "blob", tree).get("nodes", [])
            node = next((n for n in nodes if n["name"] == name), None)
            if node is None:
                raise RuntimeError(f"restic: {rel_path} not in the latest snapshot")
            if i == len(parts) - 1:
                return list(node.get("content") or [])
            tree = node["subtree"]
        return []
