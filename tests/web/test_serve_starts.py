"""`embassy serve --workers N` on a freshly initialised mission starts every time.

Before the supervising process applied the migrations once, two workers switched the new
database to WAL at the same moment and one died with "database is locked" (about one start in
four). Twenty fresh starts, four at a time so they also compete for the CPU as on a busy host.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import PASSPHRASE, make_test_keyring

from web.conftest import fetch, write_config
from web.test_site_serve import free_port

STARTS = 20
AT_ONCE = 4


def serve(root: Path, port: int, workers: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
    env["EMBASSY_PASSPHRASE"] = PASSPHRASE
    return subprocess.Popen(
        [sys.executable, "-m", "embassy", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def start_once(template: Path, root: Path) -> tuple[int, str]:
    shutil.copytree(template, root)
    assert not (root / "var" / "mission.db").exists()
    port = free_port()
    proc = serve(root, port, 2)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "serving ..." once every worker is ready, or EOF if it failed
        if not first.startswith("serving"):
            return proc.wait(30), proc.stderr.read() if proc.stderr else ""
        statuses = (fetch(f"http://127.0.0.1:{port}", "/healthz").status,
                    fetch(f"http://127.0.0.1:{port}", "/staff/login").status)  # fmt: skip
        assert statuses == (200, 200)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        return code, proc.stderr.read() if proc.stderr else ""
    finally:
        end(proc)


def test_twenty_fresh_starts_with_two_workers_all_succeed(tmp_path: Path) -> None:
    template = tmp_path / "template"
    template.mkdir()
    config = write_config(template, ("en",))
    make_test_keyring(template / "var" / "keyring", ["mission-site"])
    assert config.exists()
    started = time.monotonic()
    with ThreadPoolExecutor(AT_ONCE) as pool:
        results = list(pool.map(lambda i: start_once(template, tmp_path / f"start-{i}"), range(STARTS)))
    failed = [(i, code, err[-500:]) for i, (code, err) in enumerate(results) if code != 0 or "locked" in err]
    assert not failed, failed
    assert time.monotonic() - started < 240


def test_a_sigterm_right_after_serving_is_a_clean_stop(tmp_path: Path) -> None:
    """The supervisor (at nice 10) says "serving" before its loop's handler is in place; a SIGTERM
    sent at once must wait for that handler, not kill it with the workers left behind."""
    template = tmp_path / "template"
    template.mkdir()
    write_config(template, ("en",))
    make_test_keyring(template / "var" / "keyring", ["mission-site"])
    for i in range(3):
        root = tmp_path / f"stop-{i}"
        shutil.copytree(template, root)
        proc = serve(root, free_port(), 1)
        try:
            assert proc.stdout is not None and proc.stdout.readline().startswith("serving")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            end(proc)
