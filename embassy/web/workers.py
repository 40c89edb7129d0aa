"""Serving with N processes on one port (SO_REUSEPORT), supervised by the parent.

The parent unlocks the keyring, forks the workers before it starts any event loop (so no thread or
loop state is inherited), then runs the replication loop: exactly one process replicates. Each
worker binds its own listening socket with SO_REUSEPORT and the kernel spreads connections among
them. Workers learn of content changes through the shared content-version counter and publish
their metrics to a shared folder.

Stopping the parent (SIGINT/SIGTERM) stops every worker; a worker also dies with its parent
(PR_SET_PDEATHSIG) if the parent is killed outright. A worker that dies unexpectedly brings the
server down with exit status 1, for the service manager to restart it whole: a half-sized server
would hide the fault.
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
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from embassy.config import Config
from embassy.replicator import replication_loop
from embassy.web.app import CONFIG_KEY
from embassy.web.protocol import site_runner
from keys import Keyring

log = logging.getLogger("embassy.serve")

PR_SET_PDEATHSIG = 1
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


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


def install_fast_loop() -> None:
    """uvloop when installed: the same code, a faster event loop."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _serve(app: web.Application, host: str, port: int, reuse_port: bool, on_ready: Callable[[], None]) -> None:
    runner = site_runner(app, app[CONFIG_KEY].server)  # no access log (no IPs kept); [server] timeouts
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=1024)
        await site.start()
        on_ready()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def serve_single(app: web.Application, host: str, port: int, on_ready: Callable[[], None]) -> int:
    """One process serving and replicating (the app was built with ``replicate=True``)."""
    check_port_free(host, port)
    install_fast_loop()
    asyncio.run(_serve(app, host, port, False, on_ready))
    return 0


def serve_workers(
    make_app: Callable[[Path], web.Application],
    config: Config,
    ring: Keyring,
    host: str,
    port: int,
    workers: int,
    on_ready: Callable[[], None],
) -> int:
    """Fork ``workers`` serving processes, run replication here, stop them all on SIGINT/SIGTERM."""
    check_port_free(host, port)
    metrics_dir = config.data_dir / "run" / f"metrics-{os.getpid()}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, mode=0o700)
    ready_r, ready_w = os.pipe()
    children: list[int] = []
    try:
        for _ in range(workers):
            pid = os.fork()
            if pid == 0:  # the worker
                os.close(ready_r)
                _worker(make_app, metrics_dir, host, port, ready_w)  # never returns
            children.append(pid)
        os.close(ready_w)
        _wait_ready(ready_r, workers, children)
        on_ready()
        return asyncio.run(_supervise(config, ring, children))
    finally:
        with contextlib.suppress(OSError):
            os.close(ready_r)
        _stop_children(children)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _worker(make_app: Callable[[Path], web.Application], metrics_dir: Path, host: str, port: int, ready_w: int) -> None:
    code = 0
    try:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before we could ask to follow it
            os._exit(1)
        install_fast_loop()

        def ready() -> None:
            os.write(ready_w, b"r")
            os.close(ready_w)

        asyncio.run(_serve(make_app(metrics_dir), host, port, True, ready))
    except BaseException as e:  # a worker must never unwind into the parent's code
        if not isinstance(e, KeyboardInterrupt | SystemExit):
            log.exception("worker %d failed", os.getpid())
            code = 1
    finally:
        os._exit(code)


def _wait_ready(ready_r: int, workers: int, children: list[int]) -> None:
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
        for pid in children:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.remove(pid)
                raise ServeError(f"worker {pid} exited while starting (status {status}); see the log above")


async def _supervise(config: Config, ring: Keyring, children: list[int]) -> int:
    stop = asyncio.Event()
    failed: list[str] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def reap() -> None:
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.remove(pid)
                    if not stop.is_set():
                        failed.append(f"worker {pid} exited unexpectedly (status {status})")
                        stop.set()

    loop.add_signal_handler(signal.SIGCHLD, reap)
    replication = asyncio.create_task(replication_loop(config, ring, stop))
    await stop.wait()
    _signal_children(children, signal.SIGTERM)
    try:
        await asyncio.wait_for(replication, timeout=30)
    except TimeoutError:
        log.warning("the replication round did not finish within 30 s of shutdown; cancelled")
    for reason in failed:
        log.error("%s; stopping the server", reason)
    return 1 if failed else 0


def _signal_children(children: list[int], sig: signal.Signals) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _stop_children(children: list[int]) -> None:
    """SIGTERM every worker still alive, wait, then SIGKILL the ones that did not stop."""
    _signal_children(children, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while children and time.monotonic() < deadline:
        for pid in list(children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                children.remove(pid)
        if children:
            time.sleep(0.05)
    _signal_children(children, signal.SIGKILL)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    children.clear()
