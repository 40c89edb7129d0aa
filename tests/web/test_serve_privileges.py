"""`embassy serve --workers 2`: the processes that answer the internet never held a key that matters.

Run as root, the test reads every readable page of each process (/proc/PID/maps and /proc/PID/mem)
and looks for the secrets' bytes: the master key, its subkeys, every data and chunk-id key, the
snapshot-signing and inbox private keys, the passphrase and the stores' and dump commands'
secrets. None is in a worker; the supervisor, which replicates, holds the master key (which shows
the scan works), and each worker holds the statement key, whose signature on the keys document it
serves verifies. The keyring is one sealed by the previous code, so this also shows `serve`
migrating it: the statement its snapshot key signed stays verifiable with the downloaded keys.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fresh_bucket, run_cli, s3_env, s3_store_toml
from dev_stores import DevStore

from embassy.content.public_keys import trusted_keys
from embassy.content.statements import verify_document
from keys import Keyring
from keys.derive import subkey
from web.conftest import fetch

LEGACY = Path(__file__).parent.parent / "keys-legacy"
PASSPHRASE = "legacy keyring passphrase"
PG_SECRET = "pg-secret-for-the-dump-command-only"
WORKER_ENV = {"PATH", "HOME", "LANG", "TZ", "PYTHONPATH"}

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def readable_memory(pid: int) -> Iterator[bytes]:
    """Every readable mapping of ``pid``, region by region."""
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            fields = line.split()
            if not fields[1].startswith("r") or fields[-1] in ("[vvar]", "[vsyscall]"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                yield mem.read(end - start)
            except OSError:  # a mapping that went away meanwhile
                continue


def found_in(pid: int, secrets: dict[str, list[bytes]]) -> set[str]:
    """The names of the secrets any of whose forms lies in the process's memory."""
    found: set[str] = set()
    for region in readable_memory(pid):
        for name, forms in secrets.items():
            if name not in found and any(form in region for form in forms):
                found.add(name)
    return found


def legacy_inbox_private(keyring: Path) -> bytes:
    """The inbox private key an older keyring held, unwrapped by hand (today's code never does)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from keys.encoding import canonical_json
    from keys.kdf import KdfParams
    from keys.wrap import unwrap

    doc = json.loads(keyring.read_bytes())
    params, salt = KdfParams.from_json(doc["header"]["kdf"])
    plain = AESGCM(params.derive(PASSPHRASE.encode(), salt)).decrypt(
        base64.b64decode(doc["header"]["nonce"]), base64.b64decode(doc["ciphertext"]), canonical_json(doc["header"])
    )
    body = json.loads(plain)
    master = base64.b64decode(body["master_key"])
    inbox = body["inbox"]
    return unwrap(subkey(master, "wrap"), base64.b64decode(inbox["wrapped_private"]), f"inbox:{inbox['id']}")


def forms(secret: bytes) -> list[bytes]:
    return [secret, base64.b64encode(secret), secret.hex().encode()]


@pytest.fixture
def mission(tmp_path: Path, seaweed: list[DevStore]) -> tuple[Path, dict[str, str]]:
    (tmp_path / "var").mkdir()
    shutil.copy(LEGACY / "legacy-keyring", tmp_path / "var" / "keyring")
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "people.csv").write_text("id,name\n1,Aigerim\n")
    (tmp_path / "embassy.toml").write_text(
        '[mission]\nname = "Demo Virtual Mission"\njurisdiction = "KZ"\ndata_dir = "var"\n'
        '[[registries]]\nname = "population"\nkind = "directory"\npath = "reg"\n'
        f'[[registries]]\nname = "civil"\nkind = "command"\ncommand = ["{shutil.which("true")}"]\nenv = ["PGPASSWORD"]\n'
        f'[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "stores/lu"\njurisdiction = "LU"\n'
        + s3_store_toml("ee", seaweed[1], fresh_bucket(seaweed[1]), "EE")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
    env |= {**s3_env(seaweed[1]), "EMBASSY_PASSPHRASE": PASSPHRASE, "PGPASSWORD": PG_SECRET}
    return tmp_path, env


@needs_root
def test_workers_hold_no_key_but_the_statement_key(mission: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, env = mission
    legacy = Keyring.unseal((root / "var" / "keyring").read_bytes(), PASSPHRASE.encode())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "embassy", "serve", "--port", str(port), "--workers", "2"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"serving Demo Virtual Mission on http://127.0.0.1:{port}/"), (
            first,
            proc.stderr.read() if proc.poll() is not None else "",
        )
        ring = Keyring.unseal((root / "var" / "keyring").read_bytes(), PASSPHRASE.encode())
        assert ring.master_key == legacy.master_key and ring.statement is not None, "serve migrated the keyring"
        workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert len(workers) == 2
        for pid in workers:
            assert "embassy.web.worker" in Path(f"/proc/{pid}/cmdline").read_text()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            names = {entry.split(b"=", 1)[0].decode() for entry in environ if entry}
            assert {n for n in names if not n.startswith("LC_")} <= WORKER_ENV, names

        secrets = {
            "master key": forms(ring.master_key),
            "snapshot-signing seed": forms(bytes(ring.signing_key())),
            "legacy inbox private key": forms(legacy_inbox_private(LEGACY / "legacy-keyring")),
            "passphrase": [PASSPHRASE.encode()],
            "store secret": [env["TEST_S3_SECRET"].encode()],
            "dump command's password": [PG_SECRET.encode()],
            "chunk-id key": forms(ring.id_key("population")),
        }
        for purpose in ("wrap", "bundle", "repo-mac", "registry-tag", "lock-mac"):
            secrets[f"subkey {purpose}"] = forms(subkey(ring.master_key, purpose))
        for key in ring.registry("population").data_keys:
            secrets[f"data key {key.id}"] = forms(ring.data_key("population", key.id))
        statement_seed = {"statement key": [bytes(ring.statement_signing_key())]}

        for pid in workers:
            assert found_in(pid, secrets) == set(), f"worker {pid} holds secrets"
            assert found_in(pid, statement_seed) == {"statement key"}, "the scan does not see the worker's heap"
        assert "master key" in found_in(proc.pid, {"master key": secrets["master key"]})
        # The keyring's old inbox key is dropped unopened: not even the supervisor unwraps it.
        assert found_in(proc.pid, {"legacy": secrets["legacy inbox private key"]}) == set()
        assert Keyring.unseal((root / "var" / "keyring").read_bytes(), PASSPHRASE.encode()).legacy_inbox_id is None

        # The workers sign: the keys document they serve verifies with the current statement key,
        # and lists the old snapshot-signing key, which signed the statement published before.
        served = [fetch(f"http://127.0.0.1:{port}", "/.well-known/embassy-keys.json").body for _ in range(8)]
        doc = json.loads(served[0])
        assert all(body == served[0] for body in served)
        assert doc["statement_key_id"] == ring.statement.id == doc["signature"]["key_id"]
        keys = trusted_keys(doc)
        assert set(keys) == {ring.statement.id, legacy.signing.id}
        old_statement = json.loads((LEGACY / "legacy-statement.json").read_text())
        assert verify_document(old_statement, keys)["title"] == "New consular hours"
        (tmp_path / "downloaded-keys.json").write_bytes(served[0])
        checked = run_cli(
            "statement",
            "verify",
            str(LEGACY / "legacy-statement.json"),
            "--keys",
            str(tmp_path / "downloaded-keys.json"),
        )
        assert checked.code == 0 and "authentic statement of Demo Virtual Mission" in checked.out, checked.err
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
    assert proc.returncode == 0


@needs_root
def test_a_process_of_the_same_user_cannot_read_the_supervisors_memory() -> None:
    """What stops a compromised worker from reading the keys out of its supervisor: non-dumpable.

    The target drops to uid 65534 (once its interpreter is loaded), is made dumpable as a normal
    process is, then calls protect_memory() or not; a process of the same uid tries to read it."""
    code = (
        "import ctypes, os, sys\n"
        "from embassy.web.workers import protect_memory\n"
        "os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)\n"
        "ctypes.CDLL(None).prctl(4, 1)  # dumpable, as a process that never changed its uid is\n"
        "if sys.argv[1] == 'protect':\n"
        "    protect_memory()\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    for mode, readable in (("open", True), ("protect", False)):
        target = subprocess.Popen(
            [sys.executable, "-c", code, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert target.stdout is not None and target.stdout.readline().strip() == "ready"
            probe = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", f"/proc/{target.pid}/environ"],
                capture_output=True,
            )
            assert (probe.returncode == 0) == readable, (mode, probe.stderr)
            if not readable:
                assert b"Permission denied" in probe.stderr
        finally:
            target.kill()
            target.wait()


def test_a_wrong_passphrase_stops_the_workers_it_had_spawned(mission: tuple[Path, dict[str, str]]) -> None:
    root, env = mission
    before = set(_workers(root))
    result = subprocess.run(
        [sys.executable, "-m", "embassy", "serve", "--port", str(free_port()), "--workers", "2"],
        cwd=root, env={**env, "EMBASSY_PASSPHRASE": "not the passphrase at all"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 4
    assert result.stderr.strip() == f"embassy: wrong passphrase or damaged keyring ({root / 'var' / 'keyring'})"
    assert set(_workers(root)) <= before, "a worker outlived its supervisor"


def _workers(root: Path) -> list[int]:
    """The serving workers of this mission (their working folder is its root): other servers that
    run on the machine meanwhile, in other tests or other checkouts, are not this test's."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (
                    b"embassy.web.worker" in (entry / "cmdline").read_bytes()
                    and (entry / "cwd").resolve() == root.resolve()
                ):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
