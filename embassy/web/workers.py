"""Serving with N worker processes on one port (SO_REUSEPORT), supervised by the process that holds the keys.

Least key per process: the supervisor unlocks the keyring and runs continuous replication, so it
holds the master key and every key below it; the workers, which parse requests from the internet,
hold only the serving keys (the statement-signing key and public keys, ``keys/statement_keys.py``).
They are fresh interpreters (``python -m embassy.web.worker``), started with a minimal environment
before the keyring is unlocked, never forks of a process that held a key: no copy of the master
key, a data key, the snapshot-signing key, the passphrase or a store's secret was ever in their
memory. The supervisor then makes itself non-dumpable (so a worker running as the same user cannot
read its memory through /proc or ptrace), unlocks the keyring while the workers import, and hands
each worker its :class:`~embassy.web.handoff.Handoff` over a pipe.

Start-up, in order (a step before the hand-off - database migrations, say - fits in ``prepare``):
spawn the workers; ``prepare()`` (unlock); hand off; wait until every worker listens; supervise.
Each worker binds its own listening socket with SO_REUSEPORT and the kernel spreads connections
among them. Workers learn of content changes through the shared content-version counter and
publish their metrics to a shared folder.

Stopping the supervisor (SIGINT/SIGTERM) stops every worker; a worker also dies with its supervisor
(PR_SET_PDEATHSIG) if it is killed outright. A worker that dies unexpectedly brings the server down
with exit status 1, for the service manager to restart it whole: a half-sized server would hide the
fault.
"""

import asyncio
import contextlib
import ctypes
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import embassy
from embassy.config import Config
from embassy.contact.custody import CONTACT_KEY_PURPOSE, serving_keys_with_inbox
from embassy.contact.upkeep import upkeep_loop
from embassy.continuous.metrics import REPLICATION_METRICS
from embassy.continuous.state import DOCUMENT
from embassy.replicator import replication_loop
from embassy.web.handoff import Handoff
from keys import Keyring
from keys.statement_keys import ServingKeys

log = logging.getLogger("embassy.serve")

PR_SET_DUMPABLE = 4
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
SUPERVISOR_NICENESS = 10
# Where the worker's interpreter finds this very code, whatever the supervisor's own sys.path was.
CODE_ROOT = str(Path(embassy.__file__).resolve().parent.parent)


class ServeError(Exception):
    """The server could not start (port taken, a worker failed to start)."""


def check_port_free(host: str, port: int) -> None:
    """Refuse early and clearly when something already listens there (SO_REUSEPORT would
    otherwise let a second server of the same user share the port silently)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise ServeError(f"cannot listen on {host}:{port}: {e.strerror} (is another server running?)") from e


def protect_memory() -> None:
    """Make this process non-dumpable: no core file, and no process of the same user (a worker)
    may read its memory through /proc/PID/mem or ptrace. Best effort off Linux."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0)


def serve_workers(
    config: Config,
    prepare: Callable[[], Keyring],
    host: str,
    port: int,
    workers: int,
    environment: Mapping[str, str],
    metrics_token: str | None,
    on_ready: Callable[[], None],
    smtp_password: str | None = None,
) -> int:
    """Start ``workers`` serving processes, replicate here, stop them all on SIGINT/SIGTERM.

    ``prepare`` runs after the workers are spawned and before they get their hand-off; it unlocks
    the keyring and returns it. ``environment`` is all the workers' environment gets (PYTHONPATH
    is set to this code's folder)."""
    check_port_free(host, port)
    metrics_dir = config.data_dir / "run" / f"metrics-{os.getpid()}"
    _remove_stale_metrics(config.data_dir / "run")
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, mode=0o700)
    (config.data_dir / "run" / DOCUMENT).unlink(missing_ok=True)  # a stopped server's figures are not news
    ready_r, ready_w = os.pipe()
    children: list[subprocess.Popen[bytes]] = []
    try:
        protect_memory()  # before any key is in this process's memory (a spawned worker starts dumpable again)
        env = {**environment, "PYTHONPATH": CODE_ROOT}
        for _ in range(workers):
            children.append(_spawn(env, ready_w))
        # The site first: the workers keep the default priority, this process (replication, dump
        # commands, duty e-mails) yields the CPU to them. Its threads and children inherit it.
        with contextlib.suppress(OSError):
            os.nice(SUPERVISOR_NICENESS)
        ring = prepare()
        keys = serving_keys_with_inbox(ring.serving_keys(), config.data_dir)
        handoff = Handoff(
            config.without_secrets(), keys, host, port, metrics_dir, metrics_token, ready_w, os.getpid(),
            contact_key=ring.derived_key(CONTACT_KEY_PURPOSE),
        ).encode()
        for child in children:
            _hand_off(child, handoff)
        os.close(ready_w)
        ready_w = -1
        _wait_ready(ready_r, workers, children)
        # From "serving" on, a SIGTERM waits (blocked) for _supervise's handler instead of killing this
        # process outright: at nice 10 on a busy host the gap before the handler is not negligible.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        on_ready()
        return asyncio.run(_supervise(config, ring, keys, children, smtp_password, metrics_dir / REPLICATION_METRICS))
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for fd in (ready_r, ready_w):
            with contextlib.suppress(OSError):
                if fd >= 0:
                    os.close(fd)
        _stop_children(children)
        shutil.rmtree(metrics_dir, ignore_errors=True)


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _remove_stale_metrics(run: Path) -> None:
    """The metrics folders of servers that died without cleaning up (kill -9, power loss)."""
    for folder in run.glob("metrics-*"):
        pid = folder.name.removeprefix("metrics-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _spawn(env: Mapping[str, str], ready_w: int) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        [sys.executable, "-m", "embassy.web.worker"], stdin=subprocess.PIPE, env=dict(env), pass_fds=(ready_w,)
    )


def _hand_off(child: "subprocess.Popen[bytes]", handoff: bytes) -> None:
    assert child.stdin is not None
    try:
        child.stdin.write(handoff)
        child.stdin.close()
    except OSError as e:  # it died while importing
        raise ServeError(f"worker {child.pid} exited while starting; see the log above") from e


def _wait_ready(ready_r: int, workers: int, children: list["subprocess.Popen[bytes]"]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    got = 0
    while got < workers:
        if time.monotonic() > deadline:
            raise ServeError(f"only {got} of {workers} workers started within {READY_TIMEOUT:.0f} s")
        readable, _, _ = select.select([ready_r], [], [], 0.2)
        if readable:
            data = os.read(ready_r, 64)
            if not data:  # every write end closed: some worker died before it was ready
                raise ServeError(f"a worker exited while starting ({got} of {workers} ready); see the log above")
            got += len(data)
        for child in children:
            if child.poll() is not None:
                raise ServeError(
                    f"worker {child.pid} exited while starting (status {child.returncode}); see the log above"
                )


async def _supervise(
    config: Config,
    ring: Keyring,
    keys: ServingKeys,
    children: list["subprocess.Popen[bytes]"],
    smtp_password: str | None,
    replication_metrics: Path,
) -> int:
    stop = asyncio.Event()
    failed: list[str] = []
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # one that came meanwhile is handled now

    def reap() -> None:
        for child in children:
            if child.returncode is None and child.poll() is not None and not stop.is_set():
                failed.append(f"worker {child.pid} exited unexpectedly (status {child.returncode})")
                stop.set()

    loop.add_signal_handler(signal.SIGCHLD, reap)
    replication = asyncio.create_task(replication_loop(config, ring, stop, replication_metrics, smtp_password))
    upkeep = asyncio.create_task(upkeep_loop(config, smtp_password, stop))  # duty e-mails, retention
    # static mirrors abroad, re-published after every change of the content (nothing without a target)
    from embassy.mirror.run import mirror_loop  # the site's renderer: loaded only by the supervisor

    mirrors = asyncio.create_task(mirror_loop(config, keys, stop))
    await stop.wait()
    _signal_children(children, signal.SIGTERM)
    try:
        await asyncio.wait_for(replication, timeout=30)
    except TimeoutError:
        log.warning("the replication rounds did not finish within 30 s of shutdown; cancelled")
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(upkeep, timeout=35)
    try:
        await asyncio.wait_for(mirrors, timeout=30)
    except TimeoutError:
        log.warning("the mirror round did not finish within 30 s of shutdown; cancelled")
    for reason in failed:
        log.error("%s; stopping the server", reason)
    return 1 if failed else 0


def _signal_children(children: list["subprocess.Popen[bytes]"], sig: signal.Signals) -> None:
    for child in children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(sig)


def _stop_children(children: list["subprocess.Popen[bytes]"]) -> None:
    """SIGTERM every worker still alive, wait, then SIGKILL the ones that did not stop."""
    _signal_children(children, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
    _signal_children(children, signal.SIGKILL)
    for child in children:
        child.wait()
        if child.stdin is not None:
            with contextlib.suppress(OSError):
                child.stdin.close()
    children.clear()
