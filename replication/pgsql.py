"""A PostgreSQL registry's server: connections, its tables and their row counts, scratch databases,
and the environment and arguments of ``pg_dump`` / ``pg_restore``.

The password is ``PGPASSWORD`` in the registry's environment (the config resolves it from
``password_env``): given to libpq as a connection parameter here and to the client programs in
their environment, never on a command line. Every error names the registry and the server, keeps
libpq's own first line (which never holds the password) and has the password scrubbed out all the
same. Blocking I/O: run from worker threads.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from replication.errors import RegistryReadError, last_lines
from replication.manifest import TableRows
from replication.spec import PostgresSpec

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT = 10  # seconds: an unreachable server fails the registry quickly

# The tables pg_dump dumps the data of: ordinary tables and partitions (a partitioned parent holds
# no rows of its own), neither temporary nor part of an extension, outside the system schemas.
TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (
    SELECT 1 FROM pg_catalog.pg_depend d
    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


class PostgresServer:
    """One registry's server as the config describes it."""

    def __init__(self, registry: str, spec: PostgresSpec, environment: Mapping[str, str]) -> None:
        self.registry = registry
        self.spec = spec
        self._environment = dict(environment)
        self._password = self._environment.get("PGPASSWORD", "")
        # Where the first connection went when the config leaves host or user to libpq's defaults:
        # the client programs are then pointed at the same place, whatever their own defaults are.
        self._host = spec.host
        self._user = spec.user

    def fail(self, what: str, detail: str) -> RegistryReadError:
        """An error naming the registry and the server, without the password."""
        text = f"registry {self.registry}: {what} ({self.spec.describe()}): {detail}"
        if self._password:
            text = text.replace(self._password, "***")
        return RegistryReadError(text)

    def _explain(self, e: Exception) -> str:
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        text = lines[0] if lines else type(e).__name__
        if "password authentication failed" in text:
            text += "; check the password in the variable password_env names"
        elif "no password supplied" in text:
            text += "; the server asks for a password: set password_env"
        return text

    def connect(self, database: str | None = None, autocommit: bool = False) -> psycopg.Connection[Any]:
        import psycopg

        params: dict[str, Any] = {
            "dbname": database or self.spec.database,
            "port": self.spec.port,
            "connect_timeout": CONNECT_TIMEOUT,
            "application_name": "embassy",
        }
        if self._host:
            params["host"] = self._host
        if self._user:
            params["user"] = self._user
        if self._password:
            params["password"] = self._password
        try:
            conn = psycopg.connect(autocommit=autocommit, **params)
        except psycopg.Error as e:
            raise self.fail("cannot connect to PostgreSQL", self._explain(e)) from None
        self._host = self._host or conn.info.host
        self._user = self._user or conn.info.user
        return conn

    def query_error(self, what: str, e: Exception) -> RegistryReadError:
        return self.fail(what, self._explain(e))

    # -- tables ----------------------------------------------------------------------------------

    def count_rows(self, conn: psycopg.Connection[Any]) -> tuple[TableRows, ...]:
        """Every dumped table's row count, as the connection's transaction sees them."""
        import psycopg
        from psycopg import sql

        try:
            tables = conn.execute(TABLES_SQL).fetchall()
            out = []
            for schema, table in tables:
                query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
                row = conn.execute(query).fetchone()
                out.append(TableRows(str(schema), str(table), int(row[0]) if row else 0))
            return tuple(out)
        except psycopg.Error as e:
            raise self.query_error("cannot count the rows of its tables", e) from None

    # -- the client programs ---------------------------------------------------------------------

    def program(self, name: str) -> str:
        """The client program's path on the PATH the child gets; a clear error if it is missing."""
        found = shutil.which(name, path=self._environment.get("PATH", os.defpath))
        if found is None:
            raise RegistryReadError(
                f"registry {self.registry}: {name} not found on PATH; install PostgreSQL's client programs "
                "(Debian: apt-get install postgresql-client)"
            )
        return found

    def connection_arguments(self, database: str | None = None) -> list[str]:
        args = ["--no-password", f"--port={self.spec.port}"]
        if self._host:
            args.append(f"--host={self._host}")
        if self._user:
            args.append(f"--username={self._user}")
        # As a connection string, so that a database name holding '=' is never read as one itself.
        args.append(f"--dbname={_conninfo(database or self.spec.database)}")
        return args

    def stderr_tail(self, data: bytes) -> str:
        """A client program's last lines of stderr, for an error message."""
        text = last_lines(data)
        return text.replace(self._password, "***") if self._password else text

    def child_environment(self) -> dict[str, str]:
        return {**self._environment, "PGCONNECT_TIMEOUT": str(CONNECT_TIMEOUT), "PGAPPNAME": "embassy"}

    def dump_command(self, snapshot: str) -> list[str]:
        # --compress=0: the engine cuts, deduplicates and compresses (zstd) the dump itself; pg_dump's
        # own zlib would make every snapshot's bytes new and cost more CPU than the whole backup.
        return [
            self.program("pg_dump"),
            "--format=custom",
            "--compress=0",
            f"--snapshot={snapshot}",
            *self.connection_arguments(),
        ]

    def restore_command(self, database: str, dump: str) -> list[str]:
        return [
            self.program("pg_restore"),
            "--exit-on-error",
            "--no-owner",
            "--no-acl",
            *self.connection_arguments(database),
            dump,
        ]


def _conninfo(database: str) -> str:
    return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"
