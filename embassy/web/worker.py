"""A serving worker: a fresh interpreter (``python -m embassy.web.worker``) that answers the internet.

The supervisor (``embassy/web/workers.py``) starts it with a minimal environment (no passphrase, no
store secret), then writes one :class:`Handoff` to its standard input: the config without secrets,
the serving keys (the statement-signing key and public keys), where to listen and where to say it
is ready. That is all the worker ever holds: it was never a copy of a process that had the master
key, a data key or the snapshot-signing key in memory.

The worker follows its supervisor: it asks the kernel for SIGTERM when the supervisor dies, and
exits at once if the supervisor is gone before the hand-off arrives.
"""

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from embassy.logs import configure_logging
from embassy.web.app import CONFIG_KEY, create_app  # imported while the supervisor unlocks the keyring
from embassy.web.handoff import Handoff, HandoffError
from embassy.web.protocol import site_runner

log = logging.getLogger("embassy.serve")

PR_SET_PDEATHSIG = 1


def install_fast_loop() -> None:
    """uvloop when installed: the same code, a faster event loop."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def serve_app(app: web.Application, host: str, port: int, on_ready: Callable[[], None]) -> None:
    """Listen (sharing the port with the other workers) until SIGINT or SIGTERM."""
    runner = site_runner(app, app[CONFIG_KEY].server)  # no access log (no IPs kept); [server] timeouts
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=True, backlog=1024)
        await site.start()
        on_ready()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def _follow_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> None:
    _follow_parent()
    try:
        handoff = Handoff.read(sys.stdin.buffer)
    except HandoffError:
        raise SystemExit(1) from None
    sys.stdin.close()
    if os.getppid() != handoff.supervisor:  # the supervisor died before we could ask to follow it
        raise SystemExit(1)
    configure_logging(handoff.config.server.log_format)
    install_fast_loop()
    app = create_app(
        handoff.config, handoff.keys, metrics_token=handoff.metrics_token, shared_metrics_dir=handoff.metrics_dir,
        contact_key=handoff.contact_key or None,
    )

    def ready() -> None:
        os.write(handoff.ready_fd, b"r")
        os.close(handoff.ready_fd)

    try:
        asyncio.run(serve_app(app, handoff.host, handoff.port, ready))
    except Exception:
        log.exception("worker %d failed", os.getpid())
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
