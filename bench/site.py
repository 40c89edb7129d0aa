"""`make bench-site`: the crisis spike on the public site, against nginx serving the same bytes.

wrk on loopback (256 connections, 20 s by default) against one cached news page, first through
`embassy serve --workers 2`, then through nginx serving the very same rendered HTML as a static
file, in the same run on the same machine. Prints a table (requests/s, p50, p99, errors, ratio)
and writes it with the raw wrk output to bench/out/.

Everything binds to 127.0.0.1 and stops by itself: wrk runs for a fixed time, and both servers
are stopped by their process ids when the run ends or fails.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PAGE = "/en/news/mobile-consular-team-december"


@dataclass
class Result:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    raw: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - our own loopback server
                return bytes(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"cannot read the latency {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(name: str, url: str, connections: int, duration: int, threads: int) -> Result:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\n\s+50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return Result(name, rps, p50, p99, errors, total, out)


NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
user root root;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    types {{ text/html html; text/css css; }}
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location / {{ default_type text/html; }}
    }}
}}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--duration", type=int, default=20, help="seconds per server")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=2, help="embassy serve --workers (and nginx worker_processes)")
    args = ap.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"bench-site: {tool} is missing; `make bench-site` installs it", file=sys.stderr)
            return 2
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-site-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
        env["EMBASSY_PASSPHRASE"] = secrets.token_urlsafe(24)
        embassy = [sys.executable, "-m", "embassy"]
        subprocess.run([*embassy, "init", "--demo"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        site_port, nginx_port = free_port(), free_port()
        serve = subprocess.Popen(
            [*embassy, "serve", "--port", str(site_port), "--workers", str(args.workers)],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "wb"),  # noqa: SIM115
        )  # fmt: skip
        procs.append(serve)
        site_url = f"http://127.0.0.1:{site_port}{PAGE}"
        html = wait_http(site_url)
        # nginx serves the very same bytes as a static file
        www = work / "nginx" / "www"
        (www / PAGE.lstrip("/")).parent.mkdir(parents=True)
        (www / PAGE.lstrip("/")).write_bytes(html)
        (work / "nginx" / "tmp").mkdir()
        conf = work / "nginx" / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=args.workers, root=work / "nginx", port=nginx_port))
        nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
        nginx = subprocess.Popen([nginx_bin, "-c", str(conf), "-p", str(work / "nginx")], stderr=subprocess.DEVNULL)
        procs.append(nginx)
        nginx_url = f"http://127.0.0.1:{nginx_port}{PAGE}"
        assert wait_http(nginx_url) == html, "nginx does not serve the same bytes"
        print(f"page {PAGE}: {len(html)} bytes of HTML; wrk -t{args.threads} -c{args.connections} -d{args.duration}s")
        results = []
        for name, url in ((f"embassy serve --workers {args.workers}", site_url), ("nginx static file", nginx_url)):
            run_wrk(name, url, args.connections, 3, args.threads)  # warm up
            results.append(run_wrk(name, url, args.connections, args.duration, args.threads))
        ours, peer = results
        ratio = ours.requests_per_s / peer.requests_per_s
        lines = [
            "| server | requests/s | p50 | p99 | errors | vs nginx |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            lines.append(
                f"| {r.name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms | {r.errors} | "
                f"{r.requests_per_s / peer.requests_per_s:.2f}x |"
            )
        table = "\n".join(lines)
        print(table)
        goals = {
            "ratio >= 0.25": ratio >= 0.25,
            "p99 <= 50 ms": ours.p99_ms <= 50,
            "zero errors": ours.errors == 0,
        }
        print("goals: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in goals.items()))
        (OUT / "site.md").write_text(table + "\n")
        (OUT / "site.json").write_text(
            json.dumps(
                {"page": PAGE, "html_bytes": len(html), "results": [asdict(r) for r in results], "goals": goals},
                indent=2,
            )
        )
        return 0 if all(goals.values()) else 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGQUIT if str(p.args[0]).endswith("nginx") else signal.SIGINT)  # type: ignore[index]
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
