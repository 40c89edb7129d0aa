"""What pg_dump and pg_restore are given: the connection as arguments, the password only in their
environment, and errors that name the registry and never show the password."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from replication.errors import RegistryReadError
from replication.manifest import TableRows
from replication.pg_drill import compare_counts, scratch_name
from replication.pgsql import PostgresServer
from replication.spec import PostgresSpec

PASSWORD = "s3cret-pg-Passw0rd"


def server(path: str) -> PostgresServer:
    env = {"PATH": path, "HOME": "/root", "PGPASSWORD": PASSWORD}
    return PostgresServer("civil", PostgresSpec("civil", "db.home", 5433, "embassy"), env)


def test_the_password_is_in_the_environment_and_never_in_the_arguments(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("pg_dump", "pg_restore"):
        real = shutil.which(program)
        assert real, f"{program} is not installed (make system-deps)"
        (bin_dir / program).symlink_to(real)
    s = server(str(bin_dir))
    dump = s.dump_command("00000003-0000001B-1")
    assert dump == [
        str(bin_dir / "pg_dump"), "--format=custom", "--compress=0", "--snapshot=00000003-0000001B-1", "--no-password",
        "--port=5433", "--host=db.home", "--username=embassy", "--dbname=dbname='civil'",
    ]  # fmt: skip
    restore = s.restore_command("embassy_drill_civil_0a1b2c3d", "/tmp/civil.dump")
    assert restore[1:4] == ["--exit-on-error", "--no-owner", "--no-acl"]
    assert "--dbname=dbname='embassy_drill_civil_0a1b2c3d'" in restore and restore[-1] == "/tmp/civil.dump"
    assert not any(PASSWORD in arg for arg in dump + restore)
    env = s.child_environment()
    assert env["PGPASSWORD"] == PASSWORD and env["PGCONNECT_TIMEOUT"] == "10"


def test_a_database_name_is_never_read_as_a_connection_string() -> None:
    s = PostgresServer("civil", PostgresSpec("host=evil.example dbname=x"), {"PATH": "/usr/bin"})
    assert s.connection_arguments()[-1] == "--dbname=dbname='host=evil.example dbname=x'"
    s = PostgresServer("civil", PostgresSpec("it's"), {"PATH": "/usr/bin"})
    assert s.connection_arguments()[-1] == "--dbname=dbname='it\\'s'"


def test_errors_name_the_registry_and_scrub_the_password(tmp_path: Path) -> None:
    s = server(str(tmp_path))
    with pytest.raises(RegistryReadError, match=r"^registry civil: pg_dump not found on PATH; install PostgreSQL's"):
        s.dump_command("snap")
    error = s.fail("pg_dump exited with 1", f"FATAL: something echoed {PASSWORD} back")
    assert PASSWORD not in str(error)
    assert str(error) == (
        "registry civil: pg_dump exited with 1 (database civil at db.home:5433 as embassy): FATAL: something echoed *** back"
    )
    assert s.stderr_tail(f"line one\npassword was {PASSWORD}\n".encode()) == "line one | password was ***"


def test_counts_compare_table_by_table() -> None:
    recorded = (TableRows("public", "a", 3), TableRows("public", "b", 0))
    assert compare_counts(recorded, recorded).problem == ""
    check = compare_counts(recorded, (TableRows("public", "a", 2), TableRows("public", "c", 1)))
    assert check.problem == (
        "row counts differ from the snapshot's: public.a: 3 rows recorded, 2 restored; "
        "public.b: missing after pg_restore; public.c: not in the snapshot's counts"
    )
    assert [t.ok for t in check.tables] == [False, False, False]


def test_scratch_names_fit_postgres_identifiers() -> None:
    name = scratch_name("a-very-long-registry-name-" * 4)
    assert name.startswith("embassy_drill_a_very_long_registry_name_") and len(name) <= 63
    assert scratch_name("civil") != scratch_name("civil")
