"""The drill history: every drill's results, appended to the mission database.

The table ``drill_history`` lives in ``<data_dir>/mission.db`` (migration 2 of
embassy/content/db.py), which the default config replicates as the registry ``mission-site``: the
next backup carries the record of which copies were proven restorable, and when. One drill run
(one `embassy drill`) is the rows sharing ``run``, the time the run began.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from embassy.mission_db import MISSION_DB, connect
from replication.drill import DrillResult

_COLUMNS = (
    "run, started, store, registry, snapshot_id, snapshot_time, ok, seconds, bytes, files, rpo_seconds, compared, error"
)


@dataclass(frozen=True, slots=True)
class DrillRun:
    time: str  # when the run began, UTC ISO 8601
    results: list[DrillResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)


def append(data_dir: Path, run: str, results: list[DrillResult]) -> None:
    """Record a run's results (creating and migrating the mission database if needed)."""
    conn = connect(data_dir / MISSION_DB)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            f"INSERT INTO drill_history ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            [
                (
                    run,
                    r.started or run,
                    r.store,
                    r.registry,
                    r.id,
                    r.time,
                    int(r.ok),
                    r.seconds,
                    r.bytes,
                    r.files,
                    r.rpo_seconds,
                    r.compared,
                    r.error,
                )
                for r in results
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def load_runs(data_dir: Path, limit: int = 60) -> list[DrillRun]:
    """The last ``limit`` runs, oldest first; none when there is no mission database or history yet.

    Read-only: looking at the history never creates or migrates the database."""
    path = data_dir / MISSION_DB
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return []
    try:
        if (
            conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'drill_history'").fetchone()
            is None
        ):
            return []
        runs = [
            r for (r,) in conn.execute("SELECT DISTINCT run FROM drill_history ORDER BY run DESC LIMIT ?", (limit,))
        ]
        if not runs:
            return []
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM drill_history WHERE run >= ? ORDER BY run, id",  # noqa: S608
            (min(runs),),
        ).fetchall()
    finally:
        conn.close()
    by_run: dict[str, list[DrillResult]] = {}
    for run, started, store, registry, sid, stime, ok, seconds, nbytes, files, rpo, compared, error in rows:
        by_run.setdefault(run, []).append(
            DrillResult(
                store=store,
                registry=registry,
                ok=bool(ok),
                id=sid,
                time=stime,
                seconds=seconds,
                bytes=nbytes,
                files=files,
                rpo_seconds=rpo,
                compared=compared,
                error=error,
                started=started,
            )
        )
    return [DrillRun(run, results) for run, results in by_run.items()]


def last_run(data_dir: Path) -> DrillRun | None:
    runs = load_runs(data_dir, limit=1)
    return runs[-1] if runs else None
