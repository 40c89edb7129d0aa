"""`make bench-contact`: the contact channels under a flood of real submissions, with sealing.

A fresh mission with an inbox key is served by `embassy serve --workers 2` on loopback; N
concurrent submitters (200 by default) send M submissions (5,000) as a browser with JavaScript
does: GET the contact page, solve the form's proof of work, POST the form. Each submission comes
from its own address, given as ``X-Forwarded-For`` (127.0.0.1 is a trusted proxy), so the
per-address limits are production's; the site-wide limit is raised so that the server's own
speed is measured, not the limit. Meanwhile a prober fetches the public pages one after another;
it also runs alone first, idle, in the same run.

Settings (docs/inbox.md): everything the server does is production's - PBKDF2-SHA-256 with 5,000
rounds to verify each proof of work, Argon2id 16 MiB x 2 for each tracking code, sealing - but
the challenge asks the client for no leading zero bits, so that the benchmark machine does not
spend hours doing each visitor's work (the server's check costs the same whatever the difficulty).

Then every accepted submission is found in the database by its tracking code and opened with the
inbox key: zero lost, zero duplicated. The load generator is also the suite's load test
(tests/web/contact/test_load.py), with test settings.
"""

import argparse
import asyncio
import contextlib
import html
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.report import percentile

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PASSPHRASE = "the contact benchmark's passphrase"  # noqa: S105 - a throw-away keyring of the benchmark
TOKEN_RE = re.compile(r'id="form-(\w+)".*?data-altcha="([^"]*)".*?name="token" value="([^"]+)"', re.S)
CODE_RE = re.compile(r'<p class="code" lang="en" dir="ltr"><strong>([0-9A-Z-]+)</strong></p>')
CHANNELS = ("emergency", "consular", "general")


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: list[tuple[str, str]] = field(default_factory=list)  # (tracking code, the unique message)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return len(self.accepted) / self.seconds if self.seconds else 0.0


def solve(challenge: str) -> str:
    from embassy.contact.guard import solve as solve_challenge

    return solve_challenge(challenge)


def _visitor_priority() -> None:
    """The proof of work is each visitor's, on their own device: here, on the server's cores, it
    runs below everything the server does (nice 19), so that it is not measured as the server's."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


SOLVERS = ThreadPoolExecutor(4, thread_name_prefix="visitor-pow", initializer=_visitor_priority)


def forms_of(page: str) -> dict[str, tuple[str, str]]:
    return {m.group(1): (html.unescape(m.group(2)), m.group(3)) for m in TOKEN_RE.finditer(page)}


async def submit_one(session: aiohttp.ClientSession, url: str, address: str, channel: str, text: str,
                     result: LoadResult) -> None:  # fmt: skip
    headers = {"X-Forwarded-For": address}
    async with session.get(f"{url}/en/contact", headers=headers) as r:
        page = await r.text()
        if r.status != 200:
            result.statuses[r.status] += 1
            return
    challenge, token = forms_of(page)[channel]
    solution = await asyncio.get_running_loop().run_in_executor(SOLVERS, solve, challenge)
    fields = {"channel": channel, "token": token, "altcha": solution, "website": "", "name": "Load Test",
              "email": "load@test.example", "message": text}  # fmt: skip
    if channel == "consular":
        fields["type"] = "visa"
    async with session.post(f"{url}/en/contact", data=fields, headers={**headers, "Origin": url}) as r:
        body = await r.text()
        result.statuses[r.status] += 1
        if r.status == 201:
            found = CODE_RE.search(body)
            if found is None:
                result.errors.append("a 201 without a tracking code")
            else:
                result.accepted.append((found.group(1), text))
        elif r.status >= 500:
            result.errors.append(f"{r.status}: {body[:200]}")


async def load(url: str, submitters: int, total: int, addresses: list[str] | None = None) -> LoadResult:
    """``total`` submissions by ``submitters`` concurrent clients; submission i comes from
    ``addresses[i % len(addresses)]`` (every one its own when None)."""
    result = LoadResult()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    run = f"{random.getrandbits(32):08x}"

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            address = addresses[i % len(addresses)] if addresses else f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
            try:
                await submit_one(session, url, address, CHANNELS[i % 3], f"load {run} message {i}", result)
            except (aiohttp.ClientError, TimeoutError) as e:
                result.errors.append(f"{type(e).__name__}: {e}")

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=submitters)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(worker(session) for _ in range(submitters)))
    result.seconds = time.perf_counter() - started
    return result


async def probe(url: str, stop: asyncio.Event, paths: tuple[str, ...] = ("/en/", "/en/news/")) -> list[float]:
    """Latencies (seconds) of the public pages fetched one after another until ``stop``."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        i = 0
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(url + paths[i % len(paths)]) as r:
                await r.read()
                if r.status == 200:
                    latencies.append(time.perf_counter() - started)
            i += 1
    return latencies


@dataclass(frozen=True)
class Check:
    found: int
    lost: int
    duplicated: int
    cases: int


def check(data_dir: Path, inbox_private: bytes, accepted: list[tuple[str, str]], since: int = 0) -> Check:
    """Every accepted code's case in the database, opened with the inbox key; nothing twice."""
    from nacl.public import PrivateKey

    from embassy.contact import cases, codes
    from embassy.contact.model import Submission
    from keys.case_keys import CodeKdf, derive_case_keys
    from keys.sealing import open_envelope

    conn = sqlite3.connect(data_dir / "mission.db")
    try:
        salt = bytes(conn.execute("SELECT value FROM contact_meta WHERE key = 'code_salt'").fetchone()[0])
        (kdf_text,) = conn.execute("SELECT code_kdf FROM contact_case LIMIT 1").fetchone() or ("",)
        kdf = CodeKdf.from_json(kdf_text) if kdf_text else CodeKdf()
        total = conn.execute("SELECT count(*) FROM contact_case").fetchone()[0] - since
        found = lost = 0
        seen: set[str] = set()
        for code, text in accepted:
            keys = derive_case_keys(codes.normalise(code), salt, kdf)
            row = conn.execute("SELECT id FROM contact_case WHERE lookup = ?", (keys.lookup,)).fetchone()
            if row is None:
                lost += 1
                continue
            case_id = str(row[0])
            (sealed,) = conn.execute(
                "SELECT sealed FROM contact_message WHERE case_id = ? AND kind = 'inquiry'", (case_id,)
            ).fetchone()
            plain = open_envelope(bytes(sealed), PrivateKey(inbox_private), cases.message_label(case_id, "inquiry"))
            if Submission.from_sealed_json(plain).message == text and case_id not in seen:
                found += 1
                seen.add(case_id)
            else:
                lost += 1
        return Check(found, lost, total - len(seen), total)
    finally:
        conn.close()


# -- a mission served for real ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_mission(
    root: Path, contact: str, registries: tuple[str, ...] = (), environ: dict[str, str] | None = None
) -> bytes:
    """A mission in ``root`` (config, low-cost keyring, migrated database, an inbox key); the inbox
    private key, which a benchmark may hold to check what was stored (no server ever does)."""
    sys.path.insert(0, str(ROOT))
    from embassy.config import load_config
    from embassy.contact import custody
    from embassy.mission_db import MISSION_DB, connect, prepare_all
    from keys import KdfParams, Keyring
    from keys.inbox_keys import InboxKeyPair, new_recovery_key

    (root / "embassy.toml").write_text(
        '[mission]\nname = "Benchmark Mission"\nlanguages = ["en", "ru"]\ndata_dir = "var"\n'
        '[server]\ntrusted_proxies = ["127.0.0.1"]\n'
        '[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "var/stores/lu"\njurisdiction = "LU"\n'
        '[replication]\ninterval = "24h"\n' + contact,
        encoding="utf-8",
    )
    config = load_config(root / "embassy.toml", {**os.environ, **(environ or {})})
    config.data_dir.mkdir(parents=True, exist_ok=True)
    ring = Keyring.create(registries)
    config.keyring_path.write_bytes(ring.seal(PASSPHRASE.encode(), KdfParams.low_cost_for_tests()))
    config.keyring_path.chmod(0o600)
    prepare_all(config.data_dir)
    from embassy.demo import seed_content

    list(seed_content(config, Keyring.unseal(config.keyring_path.read_bytes(), PASSPHRASE.encode())))
    pair = InboxKeyPair.generate()
    conn = connect(config.data_dir / MISSION_DB)
    try:
        custody.init(conn, pair, new_recovery_key(2, 2, "Benchmark"), 2, actor="bench")
    finally:
        conn.close()
    return pair.private


class Served:
    """`embassy serve --workers N` on a free loopback port, stopped by its process id."""

    def __init__(self, root: Path, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}, **(env or {})}
        env["EMBASSY_PASSPHRASE"] = PASSPHRASE
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "embassy", "serve", "--port", str(self.port), "--workers", str(workers)],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.first_line = line
        if not line.startswith("serving"):
            self.stop()
            raise RuntimeError(f"embassy serve did not start: {line}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        """Stop it; its exit status (what it printed is in :attr:`output`)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.output = self.first_line + (self.proc.communicate(timeout=60)[0] or "")
            return self.proc.returncode
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()


BENCH_CONTACT = "[contact]\npow_bits = 0\nsite_per_minute = 1000000\n"  # the rest: production's defaults


async def measure(
    url: str, submitters: int, total: int, idle_seconds: float
) -> tuple[LoadResult, list[float], list[float]]:
    stop = asyncio.Event()
    idle_task = asyncio.create_task(probe(url, stop))
    await asyncio.sleep(idle_seconds)
    stop.set()
    idle = await idle_task
    stop = asyncio.Event()
    busy_task = asyncio.create_task(probe(url, stop))
    result = await load(url, submitters, total)
    stop.set()
    busy = await busy_task
    return result, idle, busy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submitters", type=int, default=200)
    parser.add_argument("--submissions", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of probing before the load")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-contact-"))
    try:
        private = make_mission(root, BENCH_CONTACT)
        served = Served(root, args.workers)
        try:
            result, idle, busy = asyncio.run(measure(served.url, args.submitters, args.submissions, args.idle))
        finally:
            served.stop()
        checked = check(root / "var", private, result.accepted)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report = {
        "submitters": args.submitters, "submissions": args.submissions, "workers": args.workers,
        "statuses": dict(sorted(result.statuses.items())), "accepted": len(result.accepted),
        "seconds": round(result.seconds, 2), "accepted_per_second": round(result.per_second, 1),
        "found": checked.found, "lost": checked.lost, "duplicated": checked.duplicated, "errors": result.errors[:10],
        "idle": {"requests": len(idle), "p50_ms": round(percentile(idle, 0.5) * 1000, 2),
                 "p99_ms": round(percentile(idle, 0.99) * 1000, 2)},
        "under_load": {"requests": len(busy), "p50_ms": round(percentile(busy, 0.5) * 1000, 2),
                       "p99_ms": round(percentile(busy, 0.99) * 1000, 2)},
    }  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "contact.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"\n{report['accepted']} of {args.submissions} submissions accepted and sealed in {report['seconds']} s: "
          f"{report['accepted_per_second']}/s; lost {checked.lost}, duplicated {checked.duplicated}; "
          f"statuses {report['statuses']}")  # fmt: skip
    print(f"public pages p99: {report['idle']['p99_ms']} ms idle, {report['under_load']['p99_ms']} ms under the load")
    ok = checked.lost == 0 and checked.duplicated == 0 and not any(s >= 500 for s in result.statuses)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
