"""Continuous replication inside `embassy serve`: one backup round every ``replication.interval``.

Exactly one process of a multi-worker server runs this loop (the supervising parent); workers
never do. A round that fails is logged and retried at the next interval; stores that missed a
round are back-filled by the next one.
"""

import asyncio
import contextlib
import logging

from embassy.config import Config
from keys import Keyring

log = logging.getLogger("embassy.replication")


FIRST_ROUND_DELAY = 60.0


async def replication_loop(config: Config, ring: Keyring, stop: asyncio.Event) -> None:
    """Run backup rounds until ``stop`` is set. Never raises for a failed round.

    The first round waits a tenth of the interval, at most a minute: a server is often started
    right after an operator's backup (as `make run` does) and the site should be up before the
    stores get busy, yet a server that restarts every few minutes must still replicate."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=min(FIRST_ROUND_DELAY, config.replication.interval_seconds / 10))
    while not stop.is_set():
        try:
            await backup_round(config, ring)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a failed round must not stop the site
            log.error("replication round failed: %s", e)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=config.replication.interval_seconds)


async def backup_round(config: Config, ring: Keyring) -> None:
    """One snapshot of every registry to every store."""
    from embassy.backup_service import run_backup_round

    await run_backup_round(config, ring)
