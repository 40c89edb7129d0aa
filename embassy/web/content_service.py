"""The site's access to the mission database: one connection on its own thread, never the event loop's.

Reads of the whole content happen once per content version (:meth:`ContentService.snapshot`);
search and statement look-ups go to the database per request, each a single hop to the thread.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from embassy.content.model import Snapshot
from embassy.content.repo import ContentRepo
from embassy.content.version import ContentVersion
from embassy.mission_db import connect

T = TypeVar("T")


class ContentService:
    def __init__(self, db_path: Path, version: ContentVersion) -> None:
        self.db_path = db_path
        self.version = version
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="content-db")
        self._conn: sqlite3.Connection | None = None
        self._repo: ContentRepo | None = None
        self._snapshot: Snapshot | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._repo = await self._run(self._open)

    def _open(self) -> ContentRepo:
        self._conn = connect(self.db_path)
        return ContentRepo(self._conn)

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    @property
    def repo(self) -> ContentRepo:
        assert self._repo is not None, "ContentService.open() was not awaited"
        return self._repo

    async def call(self, fn: Callable[[ContentRepo], T]) -> T:
        """Run ``fn(repo)`` on the database thread (reads only: writes go through the publishing workflow)."""
        repo = self.repo
        return await self._run(lambda: fn(repo))

    async def snapshot(self) -> Snapshot:
        """Everything public at the current content version, loaded once per version."""
        version = self.version.current()
        snap = self._snapshot
        if snap is not None and snap.version == version:
            return snap
        async with self._lock:
            version = self.version.current()
            if self._snapshot is None or self._snapshot.version != version:
                repo = self.repo
                self._snapshot = await self._run(lambda: repo.snapshot(version))
            return self._snapshot
