"""The drill's check of a restored PostgreSQL snapshot: the dump restored by ``pg_restore`` into a
scratch database on the registry's own server, every table's rows counted there and compared with
the counts the snapshot recorded (taken in the dump's own MVCC snapshot, so they must be equal).

The scratch database is ``embassy_drill_<registry>_<random>``, created from ``template0`` by the
registry's user (who needs ``CREATEDB``) and dropped afterwards, whatever happened (``DROP DATABASE
... WITH (FORCE)``). ``pg_restore`` runs with ``--no-owner --no-acl`` (the objects belong to the
drill's user; roles and grants are not what is being proven) and ``--exit-on-error``: any error
fails the drill. A table missing, a table more, or any count that differs fails it too, naming them.
Blocking I/O; :func:`check_postgres_snapshot` runs it on a worker thread.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replication.errors import RegistryReadError
from replication.manifest import Manifest, TableRows
from replication.pgsql import PostgresServer
from replication.spec import RegistrySpec

SCRATCH_PREFIX = "embassy_drill_"


@dataclass(frozen=True, slots=True)
class TableCheck:
    schema: str
    table: str
    recorded: int | None  # None: not in the snapshot's counts
    restored: int | None  # None: not in the restored database

    @property
    def ok(self) -> bool:
        return self.recorded is not None and self.recorded == self.restored

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "table": self.table,
            "recorded": self.recorded,
            "restored": self.restored,
            "ok": self.ok,
        }


@dataclass(frozen=True, slots=True)
class RestoredCheck:
    """What a check of a restored snapshot found: ``problem`` is empty when it passed."""

    summary: str
    tables: tuple[TableCheck, ...] = ()
    problem: str = ""


def compare_counts(recorded: tuple[TableRows, ...], restored: tuple[TableRows, ...]) -> RestoredCheck:
    want = {(t.schema, t.table): t.rows for t in recorded}
    have = {(t.schema, t.table): t.rows for t in restored}
    tables = tuple(TableCheck(s, t, want.get((s, t)), have.get((s, t))) for s, t in sorted(want.keys() | have.keys()))
    bad = [t for t in tables if not t.ok]
    rows = sum(want.values())
    if not bad:
        return RestoredCheck(
            f"pg_restore into a scratch database: {len(tables)} tables, {rows:,} rows, "
            "every row count equal to the snapshot's",
            tables,
        )
    shown = "; ".join(
        f"{t.name}: "
        + (
            "not in the snapshot's counts"
            if t.recorded is None
            else "missing after pg_restore"
            if t.restored is None
            else f"{t.recorded:,} rows recorded, {t.restored:,} restored"
        )
        for t in bad[:5]
    )
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    return RestoredCheck(
        f"pg_restore into a scratch database: {len(bad)} of {len(tables)} tables differ",
        tables,
        f"row counts differ from the snapshot's: {shown}{more}",
    )


def scratch_name(registry: str) -> str:
    safe = re.sub(r"[^a-z0-9]+", "_", registry.lower())[:30]
    return f"{SCRATCH_PREFIX}{safe}_{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Restored:
    counts: tuple[TableRows, ...]
    restore_seconds: float  # pg_restore alone
    count_seconds: float


def restore_and_count(server: PostgresServer, dump: Path) -> Restored:
    """pg_restore ``dump`` into a new scratch database, count its tables' rows, drop it."""
    import psycopg
    from psycopg import sql

    name = scratch_name(server.registry)
    server.program("pg_restore")  # a missing pg_restore is said before anything is created
    admin = server.connect(autocommit=True)
    command = server.restore_command(name, str(dump))  # after connecting: to the same host, as the same user
    try:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege:
            raise server.fail(
                "cannot create the drill's scratch database",
                "the user needs the CREATEDB privilege (ALTER ROLE ... CREATEDB)",
            ) from None
        except psycopg.Error as e:
            raise server.query_error("cannot create the drill's scratch database", e) from None
        try:
            started = time.monotonic()
            with tempfile.TemporaryFile() as err:
                try:
                    code = subprocess.run(
                        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                        env=server.child_environment(), check=False,
                    ).returncode  # fmt: skip
                except OSError as e:
                    raise RegistryReadError(f"registry {server.registry}: cannot run pg_restore: {e.strerror}") from e
                if code != 0:
                    err.seek(0)
                    raise server.fail(
                        f"pg_restore into the scratch database {name} exited with {code}",
                        server.stderr_tail(err.read()),
                    )
            restored = time.monotonic()
            with server.connect(name) as conn:
                counts = server.count_rows(conn)
            return Restored(counts, restored - started, time.monotonic() - restored)
        finally:
            try:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            except psycopg.Error as e:
                raise server.query_error(f"cannot drop the drill's scratch database {name} (drop it by hand)", e) from e
    finally:
        admin.close()


async def check_postgres_snapshot(spec: RegistrySpec, manifest: Manifest, restored: Path) -> RestoredCheck:
    """The drill's hook for postgres registries (see drill.py): ``restored`` holds the snapshot."""
    if spec.postgres is None:
        raise RegistryReadError(f"registry {spec.name}: incomplete postgres registry")
    dumps = [e.path for e in manifest.entries if e.type == "file"]
    if len(dumps) != 1:
        raise RegistryReadError(f"registry {spec.name}: the snapshot holds {len(dumps)} files, not one dump")
    server = PostgresServer(spec.name, spec.postgres, dict(spec.environment))
    done = await asyncio.to_thread(restore_and_count, server, restored / dumps[0])
    timing = f"pg_restore {done.restore_seconds:.1f} s, counting {done.count_seconds:.1f} s"
    if manifest.row_counts is None:
        return RestoredCheck(
            f"pg_restore into a scratch database passed ({timing}); the snapshot recorded no row counts",
            tuple(TableCheck(t.schema, t.table, None, t.rows) for t in done.counts),
        )
    check = compare_counts(manifest.row_counts, done.counts)
    return RestoredCheck(f"{check.summary} ({timing})", check.tables, check.problem)
