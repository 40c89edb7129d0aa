"""`make bench-site-backup`: the site's latency idle and while the server replicates a large registry.

One `embassy serve --workers 2` of the demo mission with `interval = "5s"` and an extra directory
registry, empty at first. wrk on loopback (2 threads, 32 connections by default) reads one cached
news page for ``--duration`` seconds: once idle (every registry checked and unchanged), then again
right after 1 GiB of incompressible files is moved into the empty registry, which the server's
next round backs up meanwhile. Same run, same machine, same page: the table gives each window's
requests/s, p50 and p99, the ratio of the p99s (goal: at most 2x), and how much of the second
window the backup covered (from the server's own figures, `GET /api/v1/replication`'s document).

The stores are two filesystem stores on the local disk: in a deployment the object stores are
abroad, so their servers' CPU is not the site's; a SeaweedFS on these two cores would measure the
store, not the server. Everything binds to 127.0.0.1, and the server is stopped by its process id.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.dataset import format_size, parse_size
from bench.site import OUT, PAGE, Result, free_port, run_wrk, wait_http

FILE_SIZE = 64 << 20


def document(work: Path) -> dict[str, Any]:
    path = work / "var" / "run" / "replication.json"
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def registry(work: Path, name: str) -> dict[str, Any]:
    for reg in document(work).get("registries", []):
        if reg["name"] == name:
            return dict(reg)
    return {}


def make_data(folder: Path, size: int) -> None:
    folder.mkdir(parents=True)
    left, i = size, 0
    while left > 0:
        n = min(FILE_SIZE, left)
        (folder / f"scan-{i:04d}.bin").write_bytes(os.urandom(n))
        left -= n
        i += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1GiB", help="the registry backed up during the second window")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=int, default=10, help="seconds per window")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=2, help="embassy serve --workers")
    args = ap.parse_args(argv)
    if not shutil.which("wrk"):
        print("bench-site-backup: wrk is missing; `make bench-site-backup` installs it", file=sys.stderr)
        return 2
    size = parse_size(args.size)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-site-backup-", dir=OUT))
    serve: subprocess.Popen[bytes] | None = None
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
        env["EMBASSY_PASSPHRASE"] = secrets.token_urlsafe(24)
        embassy = [sys.executable, "-m", "embassy"]
        subprocess.run([*embassy, "init", "--demo"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        config = work / "embassy.toml"
        text = config.read_text().replace('interval = "15m"', 'interval = "5s"', 1)
        config.write_text(text + '\n[[registries]]\nname = "big"\nkind = "directory"\npath = "var/registries/big"\n')
        (work / "var" / "registries" / "big").mkdir(parents=True)
        subprocess.run([*embassy, "backup"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)  # keys for big
        print(f"writing {format_size(size)} of incompressible files ...", flush=True)
        make_data(work / "staging", size)
        port = free_port()
        serve = subprocess.Popen(
            [*embassy, "serve", "--port", str(port), "--workers", str(args.workers)],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "wb"),  # noqa: SIM115
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}{PAGE}"
        wait_http(url)
        procs.wait_until("every registry checked unchanged",
                   lambda: all(r.get("last_outcome") == "unchanged" for r in document(work).get("registries", []))
                   and document(work).get("registries"), 120)  # fmt: skip
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s {PAGE}", flush=True)
        run_wrk("warm-up", url, args.connections, 3, args.threads)
        idle = run_wrk("idle (registries checked every 5 s, unchanged)", url, args.connections, args.duration,
                       args.threads)  # fmt: skip
        before = registry(work, "big").get("snapshots", 0)
        for f in sorted((work / "staging").iterdir()):
            f.rename(work / "var" / "registries" / "big" / f.name)
        procs.wait_until("the big registry's backup to start", lambda: registry(work, "big").get("running_since"), 60)
        window_start = time.time()
        busy = run_wrk(f"during the backup of {format_size(size)}", url, args.connections, args.duration, args.threads)
        window_end = time.time()
        procs.wait_until("the big registry's snapshot", lambda: registry(work, "big").get("snapshots", 0) > before, 900)
        big = registry(work, "big")
        backup_s = float(big["last_duration_seconds"])
        backup_end = calendar.timegm(time.strptime(big["last_round"], "%Y-%m-%dT%H:%M:%SZ")) + 1  # whole seconds
        backup_start = backup_end - 1 - backup_s
        covered = max(0.0, min(window_end, backup_end) - max(window_start, backup_start)) / (window_end - window_start)
        return report(idle, busy, size, backup_s, covered, args)
    finally:
        procs.terminate(serve)
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(idle: Result, busy: Result, size: int, backup_s: float, covered: float, args: argparse.Namespace) -> int:
    ratio = busy.p99_ms / idle.p99_ms if idle.p99_ms else float("inf")
    lines = ["| window | requests/s | p50 | p99 | errors | p99 vs idle |", "|---|---:|---:|---:|---:|---:|"]
    for r in (idle, busy):
        lines.append(f"| {r.name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms | {r.errors} | "
                     f"{r.p99_ms / idle.p99_ms:.2f}x |")  # fmt: skip
    table = "\n".join(lines)
    print(table)
    print(f"backup of {format_size(size)}: {backup_s:.1f} s ({size / backup_s / 1e6:.0f} MB/s), "
          f"covering {covered:.0%} of the second window")  # fmt: skip
    goals = {"p99 during backup <= 2x idle": ratio <= 2.0, "zero errors": busy.errors == 0 and idle.errors == 0,
             "backup covers >= 80% of the window": covered >= 0.8}  # fmt: skip
    print("goals: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in goals.items()))
    (OUT / "site-backup.md").write_text(table + "\n")
    (OUT / "site-backup.json").write_text(json.dumps({
        "size": size, "connections": args.connections, "duration": args.duration, "backup_seconds": backup_s,
        "covered": covered, "p99_ratio": ratio, "goals": goals,
        "results": [{k: v for k, v in vars(r).items() if k != "raw"} for r in (idle, busy)],
    }, indent=2))  # fmt: skip
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
