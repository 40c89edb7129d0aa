"""`embassy init --demo` and `embassy serve --workers N` as a user runs them: real processes, real port."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from embassy.config import load_config
from embassy.publishing.fields import Draft
from keys import Keyring
from web.conftest import SiteEnv, fetch
from web.staff.staffkit import Client

PASSPHRASE = "a demo passphrase for the serve test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children_of(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def content_rows(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [line for line in conn.iterdump() if "INSERT INTO" in line]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    env = {"EMBASSY_PASSPHRASE": PASSPHRASE}
    first = run_cli("init", "--demo", cwd=root, env=env)
    assert first.code == 0, first.err
    assert "demo content: 12 pages and 4 news items in kk, ru, en, written by 'aizhan', approved and published by " \
           "'ambassador' (each edition a signed statement)" in first.out
    assert "demo staff account 'ambassador'" in first.out
    login = root / "var" / "demo-staff-login"
    assert login.stat().st_mode & 0o777 == 0o600
    before = content_rows(root / "var" / "mission.db")
    again = run_cli("init", "--demo", cwd=root, env=env)
    assert again.code == 0, again.err
    assert "demo content: already seeded" in again.out and "staff account" not in again.out
    assert content_rows(root / "var" / "mission.db") == before  # seeding twice changes nothing
    return root


class Serve:
    def __init__(self, root: Path, workers: int) -> None:
        self.port = free_port()
        envv = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
        envv["EMBASSY_PASSPHRASE"] = PASSPHRASE
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "embassy", "serve", "--port", str(self.port), "--workers", str(workers)],
            cwd=root, env=envv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if line.startswith("staff sign-in") or (self.lines and "serving" in self.lines[0] and len(self.lines) >= 3):
                break
        assert self.lines and "serving" in self.lines[0], (
            self.lines,
            self.proc.stderr.read() if self.proc.poll() is not None else "",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()


@pytest.fixture
def served(demo: Path) -> Iterator[Serve]:
    s = Serve(demo, workers=2)
    try:
        yield s
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)


def test_serve_prints_the_url_and_the_demo_login(served: Serve, demo: Path) -> None:
    name, password = (demo / "var" / "demo-staff-login").read_text().split()
    assert served.lines[0].startswith(f"serving Demo Virtual Mission on http://127.0.0.1:{served.port}/")
    assert "2 workers" in served.lines[0]
    assert any(
        f"staff sign-in: http://localhost:{served.port}/staff/  name {name}  password {password}" in line
        for line in served.lines
    )
    # the printed one-time password opens the first sign-in, which asks for a password of one's own
    browser = Client(served.url)
    browser.get("/staff/login")
    r = browser.post("/staff/login", {"name": name, "password": password})
    assert (r.status, r.header("Location")) == (303, "/staff/account/password")


def test_workers_share_the_port_and_see_changes_at_once(served: Serve, demo: Path) -> None:
    workers = children_of(served.proc.pid)
    assert len(workers) == 2
    for _ in range(16):  # fresh connections are spread over both workers; each caches the page
        r = fetch(served.url, "/en/news/")
        assert r.status == 200 and "Harvest festival online" not in r.text
    config = load_config(demo / "embassy.toml")
    ring = Keyring.unseal((demo / "var" / "keyring").read_bytes(), PASSPHRASE.encode())
    SiteEnv(demo, demo / "embassy.toml", config, ring).publish(
        "news", "en", Draft("Harvest festival online", "Music and food.", "Join us."), slug="harvest-festival"
    )
    for _ in range(16):
        assert "Harvest festival online" in fetch(served.url, "/en/news/").text
    # any worker answers /metrics for all: each publishes its counters every 5 s
    wanted = 'embassy_http_requests_total{route="news_list",status="200"} 32.0'
    deadline = time.monotonic() + 20
    metrics = ""
    while wanted not in metrics and time.monotonic() < deadline:
        time.sleep(1)
        metrics = fetch(served.url, "/metrics").text
    assert wanted in metrics, [line for line in metrics.splitlines() if "news_list" in line]
    # a second server cannot silently join the port
    clash = run_cli(
        "serve", "--port", str(served.port), "--workers", "2", cwd=demo, env={"EMBASSY_PASSPHRASE": PASSPHRASE}
    )
    assert clash.code == 2 and f"cannot listen on 127.0.0.1:{served.port}" in clash.err
    # stopping the parent stops every worker
    assert served.stop(signal.SIGINT) == 0
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(w) for w in workers)


def test_workers_die_with_a_killed_parent(demo: Path) -> None:
    s = Serve(demo, workers=2)
    workers = children_of(s.proc.pid)
    assert len(workers) == 2 and fetch(s.url, "/healthz").status == 200
    s.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(w) for w in workers)


def test_one_supervised_worker_serves_and_stops_cleanly(demo: Path) -> None:
    s = Serve(demo, workers=1)
    assert "1 worker;" in s.lines[0]
    assert fetch(s.url, "/kk/").status == 200
    assert s.stop(signal.SIGTERM) == 0


def test_exactly_one_process_replicates(demo: Path, tmp_path: Path) -> None:
    """With several workers only the supervising parent runs the continuous replication."""
    config = demo / "every-minute.toml"
    config.write_text((demo / "embassy.toml").read_text().replace('interval = "15m"', 'interval = "1m"'))
    snapshots = demo / "var" / "stores" / "lu"

    def count() -> int:
        return len(list(snapshots.glob("r/*/snapshots/*")))

    before = count()
    envv = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
    envv["EMBASSY_PASSPHRASE"] = PASSPHRASE
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "embassy", "--config", str(config), "serve", "--port", str(port), "--workers", "2"],
        cwd=demo, env=envv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 45  # the first round starts a tenth of the interval after start-up
        while count() < before + 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert count() == before + 3, "one round: a snapshot of each of the three registries"
        time.sleep(2)
        assert count() == before + 3
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    rounds = [line for line in err.splitlines() if "backup of population:" in line]
    assert len(rounds) == 1, err
    assert "skipping this round" not in err
