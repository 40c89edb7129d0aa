"""The publishing desk of one serving process: the workflow on the staff database thread, image
processing in a pool of its own, and the scheduler that publishes what is due.

The staff area and the API both act through :class:`Desk` (``request.config_dict[DESK]``), so a
change made either way is the same transaction (``embassy/publishing/workflow.py``) and bumps the
shared content version, which every worker reads on its next request.

**The scheduler runs in every worker.** Workers hold the statement-signing key a publication needs
(the supervisor never signs statements), and any of them may be the one still alive. Each checks
about every :data:`TICK` seconds whether an event is due (a scheduled publication, an alert's
expiry) - a look at an in-memory time, re-read from the database when the content version moves or
every :data:`REFRESH` seconds. When one is due, :meth:`Workflow.publish_due` moves each due
edition from ``scheduled`` to ``published`` inside ``BEGIN IMMEDIATE`` after re-reading its state,
so with N workers each edition is published (and signed) exactly once; the others find nothing.
An alert's expiry changes no row: the version is bumped so every cached page drops its banner.
"""

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import web

from embassy.content.repo import utc_now
from embassy.content.statements import Signer
from embassy.content.text import ImageRef
from embassy.content.version import ContentVersion
from embassy.publishing.images import process_image
from embassy.publishing.rules import Actor
from embassy.publishing.workflow import Outcome, Workflow
from embassy.staff.service import StaffDb

log = logging.getLogger("embassy.publishing")
T = TypeVar("T")
TICK = 0.25
REFRESH = 30.0


@dataclass
class Desk:
    db: StaffDb
    signer: Signer
    languages: tuple[str, ...]
    version: ContentVersion
    images: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="images"))

    def workflow(self, conn: sqlite3.Connection) -> Workflow:
        return Workflow(conn, self.signer, self.languages, on_change=self.version.bump)

    async def act(self, fn: Callable[[Workflow], T]) -> T:
        """Run ``fn`` with a workflow on the staff database thread."""
        return await self.db.run(lambda c: fn(self.workflow(c.mission)))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.db.run(lambda c: fn(c.mission))

    async def upload(self, actor: Actor, item_id: str, data: bytes) -> ImageRef:
        """Check and re-encode an upload off the event loop (one at a time), then keep it."""
        processed = await asyncio.get_running_loop().run_in_executor(self.images, process_image, data)
        return await self.act(lambda w: w.add_image(actor, item_id, processed))

    async def run_due(self) -> list[Outcome]:
        return await self.act(lambda w: w.publish_due())

    def close(self) -> None:
        self.images.shutdown(wait=True)


DESK = web.AppKey("desk", Desk)


async def scheduler(desk: Desk, stop: asyncio.Event) -> None:
    """Publish scheduled editions on time and drop banners of expired alerts, until ``stop``."""
    next_at: str | None = None
    seen_version = -1
    refreshed = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            now = utc_now()
            if desk.version.current() != seen_version or loop.time() - refreshed > REFRESH:
                seen_version = desk.version.current()
                refreshed = loop.time()
                next_at = await desk.read(lambda c, at=now: desk.workflow(c).next_event(at))  # type: ignore[misc]
            if next_at is not None and next_at <= now:
                done = await desk.run_due()
                for o in done:
                    log.info("published scheduled edition %s of %s (%s): statement %s", o.edition, o.id, o.lang, o.statement)
                if not done:  # an alert expired (or another worker published first): drop every cached banner
                    desk.version.bump()
                next_at = None
                seen_version = -1
        except Exception as e:  # the scheduler must never take the site down; it tries again next tick
            log.error("the publishing scheduler failed: %s", e)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK)


def desk_ctx(desk: Desk) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler(desk, stop))
        yield
        stop.set()
        await task
        desk.close()

    return ctx
