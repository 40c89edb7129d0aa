"""A PostgreSQL database as a registry: ``pg_dump --format=custom`` streamed into the engine, and
every table's row count taken from the very MVCC snapshot the dump reads.

``scan`` opens a connection, starts a ``REPEATABLE READ, READ ONLY`` transaction and exports its
snapshot (``pg_export_snapshot()``). ``open`` starts ``pg_dump --snapshot=<it>`` (so the dump sees
exactly that transaction's data, whatever writers commit meanwhile) and, while its standard output
is chunked as it comes (never written to disk), counts each table's rows in the exporting
transaction on a thread of its own. The transaction stays open until the dump has ended. The
snapshot's entry is ``<registry>.dump``; its row counts go into the manifest (``row_counts``) only
when pg_dump exited 0. A non-zero exit fails the registry's snapshot with pg_dump's last lines of
stderr; the partial output is never stored as a snapshot.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from replication.errors import RegistryReadError
from replication.manifest import TableRows
from replication.pgsql import PostgresServer
from replication.readers.base import Chunking, ScanItem
from replication.readers.command import dump_process, kill
from replication.spec import PostgresSpec

if TYPE_CHECKING:
    import psycopg

CDC = Chunking("cdc", 1 << 20)


class PostgresReader:
    chunking = CDC

    def __init__(self, registry: str, spec: PostgresSpec, environment: Mapping[str, str]) -> None:
        self.registry = registry
        self.server = PostgresServer(registry, spec, environment)
        self._conn: psycopg.Connection[Any] | None = None
        self._snapshot = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._counts: tuple[TableRows, ...] | None = None

    def scan(self) -> list[ScanItem]:
        import psycopg

        self.server.program("pg_dump")  # a missing pg_dump is said before any connection is tried
        conn = self.server.connect()
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute("SELECT pg_catalog.pg_export_snapshot()").fetchone()
        except psycopg.Error as e:
            conn.close()
            raise self.server.query_error("cannot export a snapshot", e) from None
        self._conn = conn
        self._snapshot = str(row[0]) if row else ""
        return [ScanItem(f"{self.registry}.dump", "file", 0o600, time.time_ns(), 0, cache=None)]

    def row_counts(self) -> tuple[TableRows, ...] | None:
        """The tables' rows in the dump's snapshot, once a dump has been read whole and pg_dump exited 0."""
        return self._counts

    @contextmanager
    def open(self, item: ScanItem) -> Iterator[tuple[BinaryIO, ScanItem]]:
        conn = self._conn
        if conn is None:
            raise RegistryReadError(f"registry {self.registry}: no exported snapshot (scan first)")
        self._counts = None
        command = self.server.dump_command(self._snapshot)
        counting: Future[tuple[TableRows, ...]] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="pg-count") as pool:
            try:
                with dump_process(
                    command, self.server.child_environment(), f"registry {self.registry}: cannot run pg_dump"
                ) as run:
                    self._proc = run.proc
                    counting = pool.submit(self.server.count_rows, conn)
                    yield run.stdout, item
            finally:
                self._proc = None
                error = counting.exception() if counting is not None else None  # waits: the connection is ours again
            if run.code != 0:
                raise self.server.fail(f"pg_dump exited with {run.code}", self.server.stderr_tail(run.stderr))
            if error is not None:
                raise error
            assert counting is not None
            self._counts = counting.result()

    def close(self) -> None:
        kill(self._proc)
        if self._conn is not None:
            self._conn.close()  # rolls the read-only transaction back
            self._conn = None
