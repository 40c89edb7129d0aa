"""Our engine, driven through the real `embassy` command (docs/commands.md) in subprocesses.

One `Mission` is a config folder: ``embassy.toml`` naming two registries of the dataset (``files``,
a directory, and ``db``, the SQLite file; or the registries given) and one or more S3 stores (or
folder stores), a keyring sealed with the default Argon2id parameters (every command pays the real
unlock cost) and a passphrase file.
A command that is missing or fails gives a result with ``error`` set; the benchmark prints n/a.
"""

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs
from bench.stores import DevStore, bucket_usage, create_bucket

FILES_REGISTRY, DB_REGISTRY = "files", "db"


@dataclass(frozen=True, slots=True)
class Result:
    measured: procs.Measured
    doc: dict[str, Any] | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def seconds(self) -> float:
        return self.measured.seconds


@dataclass(frozen=True, slots=True)
class StoreRef:
    name: str
    store: DevStore
    bucket: str
    jurisdiction: str


@dataclass(frozen=True, slots=True)
class FolderStoreRef:
    """A `kind = "filesystem"` store: a folder on this machine."""

    name: str
    path: Path
    jurisdiction: str


@dataclass(frozen=True, slots=True)
class RegistryRef:
    name: str
    kind: str  # "directory" or "sqlite"
    path: Path


AnyStoreRef = StoreRef | FolderStoreRef


def dataset_registries(dataset_root: Path) -> list[RegistryRef]:
    """The dataset's two registries: ``files/`` (a directory) and ``db/registry.sqlite``."""
    return [
        RegistryRef(FILES_REGISTRY, "directory", dataset_root / "files"),
        RegistryRef(DB_REGISTRY, "sqlite", dataset_root / "db" / "registry.sqlite"),
    ]


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


class Mission:
    def __init__(
        self,
        folder: Path,
        dataset_root: Path,
        stores: Sequence[AnyStoreRef],
        quorum: int,
        timeout: float = 600.0,
        engine_src: Path | None = None,
        registries: list[RegistryRef] | None = None,
    ) -> None:
        self.engine_src = engine_src
        self.folder = folder
        self.dataset_root = dataset_root
        self.stores = list(stores)
        self.timeout = timeout
        self.config = folder / "embassy.toml"
        self.passphrase_file = folder / "passphrase"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            "[mission]",
            'name = "Benchmark mission"',
            'data_dir = "var"',
            'jurisdiction = "KZ"',
            "",
        ]
        self.registries = registries if registries is not None else dataset_registries(dataset_root)
        for r in self.registries:
            lines += [
                "[[registries]]",
                f'name = "{r.name}"',
                f'kind = "{r.kind}"',
                f"path = {_toml_str(str(r.path))}",
                "",
            ]
        for s in stores:
            if isinstance(s, FolderStoreRef):
                lines += [
                    "[[stores]]",
                    f'name = "{s.name}"',
                    'kind = "filesystem"',
                    f"path = {_toml_str(str(s.path))}",
                    f'jurisdiction = "{s.jurisdiction}"',
                    "",
                ]
                continue
            create_bucket(s.store, s.bucket)
            env = s.name.upper().replace("-", "_")
            lines += [
                "[[stores]]",
                f'name = "{s.name}"',
                'kind = "s3"',
                f'endpoint = "{s.store.endpoint}"',
                f'bucket = "{s.bucket}"',
                f'jurisdiction = "{s.jurisdiction}"',
                f'access_key_env = "BENCH_{env}_ACCESS"',
                f'secret_key_env = "BENCH_{env}_SECRET"',
                "",
            ]
        lines += ["[replication]", f"quorum = {quorum}", ""]
        self.config.write_text("\n".join(lines))
        passphrase = secrets.token_urlsafe(24)
        self.passphrase_file.write_text(passphrase + "\n")
        self.passphrase_file.chmod(0o600)
        self._make_keyring(folder / "var" / "keyring")

    def _make_keyring(self, path: Path) -> None:
        """Sealed by the engine's own code (``--engine-src``'s when given) with the default Argon2id
        parameters, as `embassy init` would: the benchmark pays the same unlock as a deployment."""
        path.parent.mkdir(parents=True, exist_ok=True)
        code = (
            "import sys; from pathlib import Path; from keys import KdfParams, Keyring; "
            "pw = Path(sys.argv[1]).read_text().rstrip('\\n').encode(); out = Path(sys.argv[2]); "
            "out.write_bytes(Keyring.create(sys.argv[3:]).seal(pw, KdfParams())); out.chmod(0o600)"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(self.passphrase_file), str(path), *(r.name for r in self.registries)],
            env=self.env,
            cwd=self.folder,
            check=True,
            timeout=120,
            capture_output=True,
        )

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
        env["EMBASSY_PASSPHRASE_FILE"] = str(self.passphrase_file)
        if self.engine_src is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(self.engine_src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        for s in self.stores:
            if isinstance(s, FolderStoreRef):
                continue
            name = s.name.upper().replace("-", "_")
            env[f"BENCH_{name}_ACCESS"] = s.store.access_key
            env[f"BENCH_{name}_SECRET"] = s.store.secret_key
        return env

    def run(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> Result:
        """``embassy --config C ARGS --json``; ``error`` says why when it did not give a usable answer."""
        m = procs.run(
            [sys.executable, "-m", "embassy", "--config", str(self.config), *args, "--json"],
            self.env,
            cwd=self.folder,
            timeout=self.timeout,
        )
        doc: dict[str, Any] | None = None
        try:
            parsed = json.loads(m.stdout) if m.stdout.strip() else None
            doc = parsed if isinstance(parsed, dict) else None
        except ValueError:
            doc = None
        error: str | None = None
        if m.timed_out:
            error = m.last_error_line()
        elif m.returncode not in ok_codes:
            detail = (doc or {}).get("error") or m.last_error_line()
            error = f"exit {m.returncode}: {detail}"
        elif doc is None:
            error = "no JSON document on stdout"
        elif "error" in doc:
            error = str(doc["error"])
        return Result(m, doc, error)

    # -- the commands the benchmark measures -----------------------------------------------------

    def unlock_only(self) -> Result:
        """`keys status`: start-up and keyring unlock, no data: the fixed cost of every command."""
        return self.run("keys", "status")

    def backup(self) -> Result:
        return self.run("backup", ok_codes=(0, 3))

    def restore(self, registry: str, target: Path, store: str) -> Result:
        return self.run("restore", "latest", "--registry", registry, "--target", str(target), "--store", store)

    def restore_all(self, target: Path, store: str) -> Result:
        """Every registry in one command (into target/<registry>), as restic restores its snapshot."""
        return self.run("restore", "latest", "--all", "--target", str(target), "--store", store)

    def verify(self, store: str) -> Result:
        return self.run("verify", "--store", store, "--read-data")

    def drill(self, store: str) -> Result:
        return self.run("drill", "--store", store)

    def stored_bytes(self, store: str) -> int:
        ref = next(s for s in self.stores if s.name == store)
        if isinstance(ref, FolderStoreRef):
            return sum(f.stat().st_size for f in ref.path.rglob("*") if f.is_file())
        return bucket_usage(ref.store, ref.bucket)[0]


def skipped(reason: str) -> Result:
    """A command not run because what it needs did not happen (e.g. an incremental without a first backup)."""
    return Result(procs.Measured((), -1, 0.0, 0, 0, "", ""), None, f"not run: {reason}")


def snapshot_field(result: Result, registry: str, key: str) -> int | None:
    """A number from `backup --json`'s snapshot of ``registry`` (None when absent)."""
    for snap in (result.doc or {}).get("snapshots", []):
        if snap.get("registry") == registry and isinstance(snap.get(key), int):
            return int(snap[key])
    return None
