"""`make bench-publish`: how soon a publication is visible on every worker, and what publishing costs
the site's throughput.

A demo mission (`embassy init --demo`) served by two real workers (``python -m embassy.web.worker``,
each handed the config and the serving keys as `embassy serve` hands them, but each on a port of
its own so that each can be asked directly). Then:

1. **Publish to visible.** N approved items are published one after another through worker 1's API
   (a publisher's token); from the moment each publish request is sent, both workers' news list is
   polled until both show the item. Median and max over N (default 50).
2. **Throughput during a burst.** wrk on a news page of worker 1 for D seconds while nothing is
   published (idle), then for D seconds while items are published through worker 2's API at a
   steady rate (``--rate``, default 5 a second: a crisis desk at full speed), then back to back as
   fast as the API takes them. Each publish empties every worker's page cache, which is the cost
   measured. All in the same run.

Everything binds to 127.0.0.1; the workers die with this process (and are stopped by pid).
"""

import argparse
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.site import Result, free_port, run_wrk, wait_http

PAGE = "/en/news/mobile-consular-team-december"


@dataclass
class Worker:
    proc: "subprocess.Popen[bytes]"
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_workers(config_path: Path, passphrase: str, count: int, log: Path) -> list[Worker]:
    """``count`` serving workers of the mission at ``config_path``, each on its own free port."""
    from embassy.config import load_config
    from embassy.mission_db import prepare_all
    from embassy.web.handoff import Handoff
    from keys import Keyring

    config = load_config(config_path)
    prepare_all(config.data_dir)
    ring = Keyring.unseal(config.keyring_path.read_bytes(), passphrase.encode())
    metrics = config.data_dir / "run" / f"metrics-bench-{os.getpid()}"
    metrics.mkdir(parents=True, exist_ok=True)
    root = str(Path(__file__).resolve().parent.parent)
    workers = []
    for _ in range(count):
        port = free_port()
        ready_r, ready_w = os.pipe()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": root}
        proc = subprocess.Popen([sys.executable, "-m", "embassy.web.worker"], stdin=subprocess.PIPE, env=env,
                                pass_fds=(ready_w,), stderr=log.open("ab"))  # fmt: skip
        handoff = Handoff(config.without_secrets(), ring.serving_keys(), "127.0.0.1", port, metrics, None, ready_w,
                          os.getpid())  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(handoff.encode())
        proc.stdin.close()
        os.close(ready_w)
        got = os.read(ready_r, 1)
        os.close(ready_r)
        if got != b"r":
            raise RuntimeError(f"worker {proc.pid} did not start; see {log}")
        workers.append(Worker(proc, port))
    return workers


def make_mission(work: Path, passphrase: str) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
    env["EMBASSY_PASSPHRASE"] = passphrase
    subprocess.run([sys.executable, "-m", "embassy", "init", "--demo"], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return work / "embassy.toml"


def staff_token(config_path: Path, name: str, roles: list[str]) -> str:
    from embassy.config import load_config
    from embassy.mission_db import MISSION_DB, connect
    from embassy.staff import accounts, tokens
    from embassy.staff.passwords import hash_password

    config = load_config(config_path)
    conn = connect(config.data_dir / MISSION_DB)
    try:
        if not accounts.exists(conn, name):
            accounts.create(conn, name, roles, hash_password(secrets.token_urlsafe(16)), actor="bench")
        token, _ = tokens.create(conn, name, roles, 1, actor="bench")
    finally:
        conn.close()
    return token


def approved_items(config_path: Path, passphrase: str, count: int, prefix: str) -> list[tuple[str, str]]:
    """``count`` news items written and approved (by two accounts), waiting to be published: (id, title)."""
    from embassy.config import load_config
    from embassy.content.statements import Signer
    from embassy.mission_db import MISSION_DB, connect
    from embassy.publishing.fields import Draft
    from embassy.publishing.rules import Actor
    from embassy.publishing.workflow import Workflow
    from keys import Keyring

    config = load_config(config_path)
    keys = Keyring.unseal(config.keyring_path.read_bytes(), passphrase.encode()).serving_keys()
    conn = connect(config.data_dir / MISSION_DB)
    flow = Workflow(conn, Signer(config.mission.name, keys.statement_signing_key(), keys.statement_key_id),
                    config.mission.languages)  # fmt: skip
    writer, reviewer = Actor("bench.writer", frozenset({"editor"})), Actor("bench.reviewer", frozenset({"publisher"}))
    out = []
    try:
        for i in range(count):
            title = f"{prefix} {i:03d} {secrets.token_hex(3)}"
            o = flow.create(writer, "news", "en", Draft(title, "A bench item.", "Published by the benchmark."))
            flow.submit(writer, o.id, "en")
            flow.approve(reviewer, o.id, "en")
            out.append((o.id, title))
    finally:
        conn.close()
    return out


class Api:
    def __init__(self, worker: Worker, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
        self.token = token

    def publish(self, item: str, at: str | None = None) -> dict[str, object]:
        body = json.dumps({"at": at} if at else {}).encode()
        self.conn.request("POST", f"/api/v1/items/{item}/editions/en/publish", body=body,
                          headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})  # fmt: skip
        r = self.conn.getresponse()
        data = json.loads(r.read())
        if r.status != 200:
            raise RuntimeError(f"publish {item}: {r.status} {data}")
        return data  # type: ignore[no-any-return]


def visible_after(api: Api, workers: list[Worker], item: str, title: str, limit: float = 10.0) -> float:
    """Publish ``item`` and return the seconds until every worker's news list shows ``title``."""
    pollers = [http.client.HTTPConnection("127.0.0.1", w.port, timeout=10) for w in workers]
    try:
        seen = [False] * len(workers)
        started = time.perf_counter()
        api.publish(item)
        while not all(seen):
            for i, conn in enumerate(pollers):
                if not seen[i]:
                    conn.request("GET", "/en/news/")
                    seen[i] = title.encode() in conn.getresponse().read()
            if time.perf_counter() - started > limit:
                raise RuntimeError(f"{item} not visible on every worker within {limit} s: {seen}")
        return time.perf_counter() - started
    finally:
        for conn in pollers:
            conn.close()


def burst_run(url: str, api: Api, pending: Iterator[tuple[str, str]], rate: float | None,
              args: argparse.Namespace) -> tuple[Result, int]:  # fmt: skip
    """wrk on ``url`` while ``api`` publishes items from ``pending`` (at ``rate`` per second, or back to back)."""
    stop = threading.Event()
    published = 0

    def publish() -> None:
        nonlocal published
        started = time.perf_counter()
        for item, _ in pending:
            if stop.is_set():
                return
            api.publish(item)
            published += 1
            if rate:
                stop.wait(max(0.0, started + published / rate - time.perf_counter()))

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        return run_wrk("burst", url, args.connections, args.duration, 2), published
    finally:
        stop.set()
        thread.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--publishes", type=int, default=50, help="publications timed to visible (default 50)")
    ap.add_argument("--duration", type=int, default=10, help="seconds of wrk, idle and during the burst")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--rate", type=float, default=5, help="publishes per second in the paced burst (default 5)")
    args = ap.parse_args(argv)
    if not shutil.which("wrk"):
        print("bench-publish: wrk is missing; `make bench-publish` installs it", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    passphrase = secrets.token_urlsafe(24)
    workers: list[Worker] = []
    try:
        config_path = make_mission(work, passphrase)
        token = staff_token(config_path, "bench.publisher", ["publisher"])
        timed = approved_items(config_path, passphrase, args.publishes, "Timed")
        burst = approved_items(config_path, passphrase, 1000, "Burst")
        workers = start_workers(config_path, passphrase, 2, work / "workers.log")
        for w in workers:
            wait_http(w.url + PAGE)
        api = Api(workers[0], token)
        seconds = [visible_after(api, workers, item, title) for item, title in timed]
        print(f"publish to visible on both workers, over {len(seconds)} publishes: median "
              f"{statistics.median(seconds) * 1000:.1f} ms, max {max(seconds) * 1000:.1f} ms")  # fmt: skip
        url = workers[0].url + PAGE
        run_wrk("warm-up", url, args.connections, 2, 2)
        idle = run_wrk("idle", url, args.connections, args.duration, 2)
        print(f"news page, wrk -t2 -c{args.connections} -d{args.duration}s on worker 1, idle: "
              f"{idle.requests_per_s:,.0f} req/s (p99 {idle.p99_ms:.1f} ms, {idle.errors} errors)")  # fmt: skip
        pending = iter(burst)
        for rate in (args.rate, None):
            busy, published = burst_run(url, Api(workers[1], token), pending, rate, args)
            how = f"paced at {rate}/s" if rate else "back to back"
            print(f"  during a burst of {published} publishes through worker 2 ({how}, {published / args.duration:.1f}/s): "
                  f"{busy.requests_per_s:,.0f} req/s (p99 {busy.p99_ms:.1f} ms, {busy.errors} errors)")  # fmt: skip
        return 0
    finally:
        for w in workers:
            w.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
