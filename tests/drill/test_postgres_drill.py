"""PostgreSQL registries end to end: a real server started by the suite, a real SeaweedFS store,
the real `embassy` command. A writer commits rows into two tables in the same transactions for the
whole backup; the recorded row counts are those of one MVCC snapshot (equal in both tables), the
drill's pg_restore into a scratch database finds exactly them, and the scratch database is gone.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from conftest import PASSPHRASE, fresh_bucket, make_test_keyring, run_cli, s3_env, s3_store_toml
from dev_postgres import PostgresServer
from dev_stores import DevStore
from engine.conftest import Mission, write_config

from replication.pg_drill import SCRATCH_PREFIX

PAD = "x" * 400


def fill(server: PostgresServer, database: str, rows: int) -> None:
    with server.connect(database) as conn:
        conn.execute("CREATE TABLE ledger (id bigserial PRIMARY KEY, amount int NOT NULL, note text)")
        conn.execute("CREATE TABLE journal (id bigserial PRIMARY KEY, ledger_id bigint NOT NULL, note text)")
        conn.execute('CREATE SCHEMA "Civil Status"')
        conn.execute('CREATE TABLE "Civil Status"."Birth ""Records""" (id int PRIMARY KEY, name text)')
        conn.execute("CREATE TABLE empty_table (id int)")
        conn.execute(
            "INSERT INTO ledger (amount, note) SELECT g, %s || g FROM generate_series(1, %s) g", (PAD, rows)
        )
        conn.execute("INSERT INTO journal (ledger_id, note) SELECT id, note FROM ledger")
        conn.execute(
            'INSERT INTO "Civil Status"."Birth ""Records""" '
            "SELECT g, 'Айгерим ' || g FROM generate_series(1, 37) g"
        )


def counts(server: PostgresServer, database: str) -> dict[str, int]:
    with server.connect(database) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("ledger", "journal")
        }


class Writer(threading.Thread):
    """Commits one row into each of ledger and journal per transaction until stopped."""

    def __init__(self, server: PostgresServer, database: str) -> None:
        super().__init__(daemon=True)
        self.server, self.database = server, database
        self.stop = threading.Event()
        self.started_writing = threading.Event()
        self.commits = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.server.connect(self.database, autocommit=True) as conn:
                while not self.stop.is_set():
                    with conn.transaction():
                        row = conn.execute(
                            "INSERT INTO ledger (amount, note) VALUES (1, %s) RETURNING id", (PAD,)
                        ).fetchone()
                        conn.execute("INSERT INTO journal (ledger_id, note) VALUES (%s, 'late')", (row[0],))  # type: ignore[index]
                    self.commits += 1
                    self.started_writing.set()
        except BaseException as e:  # reported by the test
            self.error = e
            self.started_writing.set()


def pg_mission(root: Path, seaweed: list[DevStore], server: PostgresServer, database: str) -> Mission:
    registries = server.registry_toml("civil", database)
    bucket = fresh_bucket(seaweed[0])
    config = write_config(root, s3_store_toml("lu", seaweed[0], bucket), quorum=1, registries=registries)
    make_test_keyring(root / "var" / "keyring", ["civil"])
    env = {**s3_env(seaweed[0]), "EMBASSY_PASSPHRASE": PASSPHRASE, "TEST_PGPASSWORD": server.password}
    return Mission(root, config, env, {"lu": bucket})


@pytest.fixture
def civil(tmp_path: Path, seaweed: list[DevStore], postgres: PostgresServer) -> tuple[Mission, str]:
    database = postgres.create_database("civil")
    fill(postgres, database, 40_000)
    return pg_mission(tmp_path, seaweed, postgres, database), database


def test_a_backup_while_a_writer_commits_records_one_snapshots_counts_and_the_drill_finds_them(
    civil: tuple[Mission, str], postgres: PostgresServer
) -> None:
    mission, database = civil
    writer = Writer(postgres, database)
    writer.start()
    assert writer.started_writing.wait(30)
    before = counts(postgres, database)
    commits_before = writer.commits
    try:
        backup = mission.cli("backup", "--json")
        commits_during = writer.commits - commits_before
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None
    assert backup.code == 0, backup.err
    after = counts(postgres, database)
    assert commits_during > 0 and after["ledger"] > before["ledger"]  # the writer ran throughout
    snap = json.loads(backup.out)["snapshots"][0]
    assert snap["registry"] == "civil" and snap["files"] == 1 and snap["stores"] == {"lu": "ok"}

    drill = mission.cli("drill", "--json", "--report", str(mission.root / "drill.html"))
    assert drill.code == 0, drill.err + drill.out
    result = json.loads(drill.out)["results"][0]
    assert result["ok"] is True, result
    tables = {(t["schema"], t["table"]): t for t in result["tables"]}
    assert set(tables) == {
        ("public", "ledger"),
        ("public", "journal"),
        ("public", "empty_table"),
        ("Civil Status", 'Birth "Records"'),
    }
    assert all(t["ok"] and t["recorded"] == t["restored"] for t in tables.values())
    ledger, journal = tables[("public", "ledger")]["recorded"], tables[("public", "journal")]["recorded"]
    # One snapshot: every committed transaction wrote both tables, so their counts agree exactly.
    assert ledger == journal
    assert before["ledger"] <= ledger < after["ledger"]
    assert tables[("Civil Status", 'Birth "Records"')]["recorded"] == 37
    assert tables[("public", "empty_table")]["recorded"] == 0
    assert "every row count equal to the snapshot's" in result["compared"]
    assert not [d for d in postgres.databases() if d.startswith(SCRATCH_PREFIX)]

    text = mission.cli("drill")
    assert text.code == 0, text.err
    assert "4 tables" in text.out and "every row count equal to the snapshot's" in text.out
    html = (mission.root / "drill.html").read_text()
    assert "Birth &quot;Records&quot;" in html and f"{ledger:,}" in html
    for output in (backup.out, backup.err, drill.out, drill.err, text.out, html):
        assert postgres.password not in output
    assert not [d for d in postgres.databases() if d.startswith(SCRATCH_PREFIX)]


def test_restore_gives_the_custom_format_dump_that_pg_restore_reads(
    civil: tuple[Mission, str], postgres: PostgresServer
) -> None:
    mission, database = civil
    assert mission.cli("backup").code == 0
    target = mission.root / "restored"
    restore = mission.cli("restore", "latest", "--registry", "civil", "--target", str(target), "--json")
    assert restore.code == 0, restore.err
    dump = target / "civil.dump"
    assert json.loads(restore.out)["files"] == 1
    assert dump.read_bytes()[:5] == b"PGDMP"
    copy = postgres.create_database("copy")
    import subprocess

    subprocess.run(
        [str(postgres.bin / "pg_restore"), "--no-owner", "--exit-on-error", "-h", postgres.host,
         "-p", str(postgres.port), "-U", postgres.user, "-d", copy, str(dump)],
        check=True, env={"PGPASSWORD": postgres.password}, capture_output=True,
    )  # fmt: skip
    assert counts(postgres, copy) == counts(postgres, database) == {"ledger": 40_000, "journal": 40_000}


def test_a_count_that_differs_fails_the_drill_and_drops_the_scratch_database(
    civil: tuple[Mission, str], postgres: PostgresServer
) -> None:
    """The snapshot's dump and its recorded counts, checked against a manifest whose count is one off."""
    import asyncio
    import dataclasses

    from replication.manifest import Entry, Manifest, TableRows
    from replication.pg_drill import check_postgres_snapshot
    from replication.spec import PostgresSpec, RegistrySpec

    mission, database = civil
    assert mission.cli("backup").code == 0
    target = mission.root / "restored"
    assert mission.cli("restore", "latest", "--registry", "civil", "--target", str(target)).code == 0
    spec = RegistrySpec(
        "civil", "postgres", environment=(("PGPASSWORD", postgres.password),),
        postgres=PostgresSpec(database, postgres.host, postgres.port, postgres.user),
    )  # fmt: skip
    recorded = (
        TableRows("Civil Status", 'Birth "Records"', 37),
        TableRows("public", "empty_table", 0),
        TableRows("public", "journal", 40_000),
        TableRows("public", "ledger", 40_001),
    )
    manifest = Manifest("civil", "postgres", "", None, "", [], [Entry("civil.dump", "file", 0o600, 0)], row_counts=recorded)
    outcome = asyncio.run(check_postgres_snapshot(spec, manifest, target))
    assert outcome.problem == "row counts differ from the snapshot's: public.ledger: 40,001 rows recorded, 40,000 restored"
    assert [t.name for t in outcome.tables if not t.ok] == ["public.ledger"]
    assert not [d for d in postgres.databases() if d.startswith(SCRATCH_PREFIX)]

    # A table the snapshot did not record, and a damaged dump: both fail, and leave nothing behind.
    fewer = dataclasses.replace(manifest, row_counts=recorded[1:])
    outcome = asyncio.run(check_postgres_snapshot(spec, fewer, target))
    assert 'Civil Status.Birth "Records": not in the snapshot\'s counts' in outcome.problem
    dump = target / "civil.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    dump.write_bytes(bytes(data))
    from replication.errors import RegistryReadError

    with pytest.raises(RegistryReadError, match=r"registry civil: pg_restore into the scratch database embassy_drill_civil_\w+ exited with 1"):
        asyncio.run(check_postgres_snapshot(spec, manifest, target))
    assert not [d for d in postgres.databases() if d.startswith(SCRATCH_PREFIX)]


def test_bad_server_settings_fail_with_the_registry_named_and_no_secret_shown(
    tmp_path: Path, seaweed: list[DevStore], postgres: PostgresServer
) -> None:
    from engine.conftest import closed_port

    database = postgres.create_database("civil")
    store = s3_store_toml("lu", seaweed[0], fresh_bucket(seaweed[0]))
    base_env = {**s3_env(seaweed[0]), "EMBASSY_PASSPHRASE": PASSPHRASE}
    make_test_keyring(tmp_path / "var" / "keyring", ["civil"])
    cases = [
        (
            postgres.registry_toml("civil", database, port=closed_port()),
            {"TEST_PGPASSWORD": postgres.password},
            "registry civil: cannot connect to PostgreSQL (database",
            "Connection refused",
        ),
        (
            postgres.registry_toml("civil", database),
            {"TEST_PGPASSWORD": "not-the-password-4711"},
            "registry civil: cannot connect to PostgreSQL (database",
            "password authentication failed",
        ),
        (
            postgres.registry_toml("civil", database),
            {"TEST_PGPASSWORD": postgres.password, "PATH": "/nonexistent"},
            "registry civil: pg_dump not found on PATH",
            "postgresql-client",
        ),
    ]
    for registries, env, first, detail in cases:
        config = write_config(tmp_path, store, quorum=1, registries=registries)
        r = run_cli("--config", str(config), "backup", "--json", env={**base_env, **env}, cwd=tmp_path)
        assert r.code == 5, (r.code, r.out, r.err)
        error = json.loads(r.out)["snapshots"][0]["error"]
        assert error.startswith(first) and detail in error, error
        for secret in (postgres.password, "not-the-password-4711", PASSPHRASE):
            assert secret not in r.out + r.err


def test_a_registry_on_the_servers_unix_socket_backs_up_and_drills(
    tmp_path: Path, seaweed: list[DevStore], postgres: PostgresServer
) -> None:
    database = postgres.create_database("socket")
    fill(postgres, database, 1_000)
    mission = pg_mission(tmp_path, seaweed, postgres, database)
    text = mission.config.read_text().replace(f'host = "{postgres.host}"', f'host = "{postgres.root}"')
    assert f'host = "{postgres.root}"' in text
    mission.config.write_text(text)
    assert mission.cli("backup").code == 0
    drill = mission.cli("drill", "--json")
    assert drill.code == 0, drill.err
    result = json.loads(drill.out)["results"][0]
    assert {t["table"]: t["restored"] for t in result["tables"]}["ledger"] == 1_000
