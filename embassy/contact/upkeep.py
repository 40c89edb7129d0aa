"""What the supervising process of `embassy serve` does for the contact channels, beside replication:
send the duty notifications (notify.py) and apply retention (closed cases deleted after
``[contact] retention_days``, each deletion audited). Both work on their own connection to the
mission database, on a thread; a failure is logged (never with any content) and tried again.
"""

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

import aiosmtplib

from embassy.config import Config
from embassy.contact import cases, notify
from embassy.mission_db import MISSION_DB, connect

log = logging.getLogger("embassy.contact")

OUTBOX_POLL = 5.0
RETENTION_EVERY = 3600.0


async def _on_thread(path: Path, fn, *args):  # type: ignore[no-untyped-def]
    def run():  # type: ignore[no-untyped-def]
        conn = connect(path)
        try:
            return fn(conn, *args)
        finally:
            conn.close()

    return await asyncio.to_thread(run)


async def send_due(config: Config, password: str | None) -> int:
    """Send every notification that is due; the number sent."""
    smtp, to = config.smtp, config.contact.duty_email
    if smtp is None or not to:
        return 0
    path = config.data_dir / MISSION_DB
    sent = 0
    for row in await _on_thread(path, notify.due):
        message = notify.duty_message(smtp, to, config.mission.name, config.server.public_url + "/staff/inbox", row.created)
        try:
            await notify.send(smtp, password, message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            error = f"{type(e).__name__}: {e}"
            delay = await _on_thread(path, notify.mark_failed, row, error)
            log.warning("duty notification %d failed (%s); next try in %.0f s", row.id, error[:200], delay)
            continue
        await _on_thread(path, notify.mark_sent, row)
        sent += 1
    return sent


def _retention(conn: sqlite3.Connection, days: int) -> list[str]:
    return cases.purge_closed(conn, days)


async def apply_retention(config: Config) -> list[str]:
    deleted: list[str] = await _on_thread(config.data_dir / MISSION_DB, _retention, config.contact.retention_days)
    if deleted:
        log.info("retention: deleted %d case(s) closed more than %d days ago", len(deleted), config.contact.retention_days)
    return deleted


async def upkeep_loop(config: Config, smtp_password: str | None, stop: asyncio.Event) -> None:
    """Until ``stop``: notifications every few seconds, retention every hour."""
    last_retention = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await send_due(config, smtp_password)
            if loop.time() - last_retention >= RETENTION_EVERY:
                await apply_retention(config)
                last_retention = loop.time()
        except Exception as e:  # upkeep must never take the server down
            log.error("contact upkeep failed: %s", type(e).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), OUTBOX_POLL)
