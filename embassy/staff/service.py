"""The staff databases for one process: the mission database (accounts, factors, tokens, audit)
and the sessions database, on one thread of their own, never the event loop's."""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from embassy.audit.log import record
from embassy.mission_db import MISSION_DB, connect, connect_sessions
from embassy.staff.sessions import SessionStore
from embassy.staff.throttle import Throttle

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Conns:
    mission: sqlite3.Connection
    sessions: SessionStore
    throttle: Throttle

    def audit(self, actor: str, action: str, detail: dict[str, object] | None = None) -> None:
        record(self.mission, actor, action, detail)


def open_conns(data_dir: Path) -> Conns:
    mission = connect(data_dir / MISSION_DB, check_same_thread=False)
    sessions = connect_sessions(data_dir, check_same_thread=False)
    return Conns(mission, SessionStore(sessions), Throttle(sessions))


class StaffDb:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staff-db")
        self._conns: Conns | None = None

    async def open(self) -> None:
        self._conns = await asyncio.get_running_loop().run_in_executor(self._executor, open_conns, self.data_dir)

    async def close(self) -> None:
        conns = self._conns
        if conns is not None:

            def close() -> None:
                conns.mission.close()
                conns.sessions.conn.close()

            await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)

    async def run(self, fn: Callable[[Conns], T]) -> T:
        conns = self._conns
        assert conns is not None, "StaffDb.open() was not awaited"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, conns)
