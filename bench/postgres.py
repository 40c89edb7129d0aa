"""`make bench-postgres`: a PostgreSQL registry of ~1 GiB, our backup and drill against pg_dump alone.

    python -m bench.postgres [--size-mib 1024] [--change-percent 1] [--keep]

A PostgreSQL server (deploy/dev_postgres.py) and one SeaweedFS store on loopback, both started and
stopped here. The database holds two tables of registry-like rows (people, documents) and their
indexes, filled to about ``--size-mib`` (pg_database_size). Measured in the same run, each command
from a flushed page cache state (bench.procs.run):

- the peer: ``pg_dump --format=custom`` to a file (its default compression), and
  ``pg_restore`` of that file into a fresh database;
- ours: ``embassy backup`` (pg_dump streamed into the engine, chunked, encrypted, uploaded, every
  table's rows counted in the dump's snapshot), again after ``--change-percent`` of the rows were
  updated, and ``embassy drill`` (the dump restored from the store, pg_restore into a scratch
  database, every table's rows counted and compared, the scratch database dropped).

Prints the table and writes it as markdown to bench/out/postgres.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.dataset import OUT, MiB, format_size
from bench.stores import bucket_usage, create_bucket, start_stores, stop_stores
from keys import KdfParams, Keyring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "deploy"))
import dev_postgres

REGISTRY = "civil"
DATABASE = "civil"
BATCH_ROWS = 50_000


def log(message: str) -> None:
    print(f"[bench-postgres {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fill(server: Any, size: int) -> dict[str, int]:
    """People and their documents until the database is ``size`` bytes; returns the row counts."""
    with server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with server.connect(DATABASE, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, birth date NOT NULL, "
            "region int NOT NULL, address text NOT NULL, note text)"
        )
        conn.execute(
            "CREATE TABLE documents (id bigint PRIMARY KEY, person_id bigint NOT NULL, kind text NOT NULL, "
            "issued timestamptz NOT NULL, body text NOT NULL)"
        )
        conn.execute("CREATE INDEX people_name ON people (name)")
        start = 0
        while True:
            conn.execute(
                "INSERT INTO people SELECT g, 'Person ' || md5(g::text), date '1940-01-01' + (g %% 29000), g %% 17, "
                "(g %% 997) || ' Abai Avenue, Almaty ' || substr(md5((g * 7)::text), 1, 12), "
                "CASE WHEN g %% 3 = 0 THEN repeat(md5((g * 3)::text), 2) END "
                "FROM generate_series(%s, %s) g",
                (start + 1, start + BATCH_ROWS),
            )
            conn.execute(
                "INSERT INTO documents SELECT g, g, (ARRAY['passport', 'birth', 'marriage', 'visa'])[1 + g %% 4], "
                "timestamptz '2000-01-01' + g * interval '17 minutes', "
                "md5(g::text) || md5((g * 2)::text) || md5((g * 3)::text) || md5((g * 5)::text) || "
                "md5((g * 7)::text) FROM generate_series(%s, %s) g",
                (start + 1, start + BATCH_ROWS),
            )
            start += BATCH_ROWS
            now = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            if now >= size:
                break
        conn.execute("VACUUM ANALYZE")
        return {"people": start, "documents": start}


def change(server: Any, rows: int, percent: float) -> int:
    """A day's work on a registry: ``percent`` of each table's rows, half updated (a run of ids in
    the middle: a region's records revised) and half appended; returns how many per table."""
    n = max(2, int(rows * percent / 100))
    first = rows // 2
    with server.connect(DATABASE, autocommit=True) as conn:
        conn.execute("UPDATE people SET note = 'revised ' || id WHERE id BETWEEN %s AND %s", (first, first + n // 2))
        conn.execute("UPDATE documents SET kind = 'renewed' WHERE id BETWEEN %s AND %s", (first, first + n // 2))
        conn.execute(
            "INSERT INTO people SELECT g, 'Person ' || md5(g::text), date '2026-01-01', 1, 'new', NULL "
            "FROM generate_series(%s, %s) g",
            (rows + 1, rows + n // 2),
        )
        conn.execute(
            "INSERT INTO documents SELECT g, g, 'visa', now(), md5(g::text) FROM generate_series(%s, %s) g",
            (rows + 1, rows + n // 2),
        )
    return n


class Ours:
    def __init__(self, folder: Path, server: Any, store: Any, bucket: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        self.passphrase = folder / "passphrase"
        self.passphrase.write_text(secrets.token_urlsafe(24) + "\n")
        self.passphrase.chmod(0o600)
        self.config = folder / "embassy.toml"
        self.config.write_text(
            '[mission]\nname = "Benchmark mission"\ndata_dir = "var"\njurisdiction = "KZ"\n\n'
            + server.registry_toml(REGISTRY, DATABASE, "BENCH_PGPASSWORD")
            + f'\n[[stores]]\nname = "s1"\nkind = "s3"\nendpoint = "{store.endpoint}"\nbucket = "{bucket}"\n'
            'jurisdiction = "LU"\naccess_key_env = "BENCH_S1_ACCESS"\nsecret_key_env = "BENCH_S1_SECRET"\n\n'
            "[replication]\nquorum = 1\n"
        )
        ring = folder / "var" / "keyring"
        ring.parent.mkdir(parents=True)
        ring.write_bytes(Keyring.create([REGISTRY]).seal(self.passphrase.read_text().strip().encode(), KdfParams()))
        ring.chmod(0o600)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
        self.env.update(
            EMBASSY_PASSPHRASE_FILE=str(self.passphrase),
            BENCH_PGPASSWORD=server.password,
            BENCH_S1_ACCESS=store.access_key,
            BENCH_S1_SECRET=store.secret_key,
        )

    def run(self, *args: str, timeout: float) -> tuple[procs.Measured, dict[str, Any]]:
        m = procs.run(
            [sys.executable, "-m", "embassy", "--config", str(self.config), *args, "--json"],
            self.env,
            cwd=self.folder,
            timeout=timeout,
        )
        if not m.ok:
            raise RuntimeError(f"embassy {args[0]} failed: {m.last_error_line()}")
        doc: dict[str, Any] = json.loads(m.stdout)
        return m, doc


def pg_client(server: Any, program: str, *args: str, timeout: float) -> procs.Measured:
    m = procs.run(
        [str(server.bin / program), "--no-password", "-h", server.host, "-p", str(server.port), "-U", server.user,
         *args],
        {"PATH": os.environ.get("PATH", ""), "PGPASSWORD": server.password},
        timeout=timeout,
    )  # fmt: skip
    if not m.ok:
        raise RuntimeError(f"{program} failed: {m.last_error_line()}")
    return m


def peer_restore_once(server: Any, dump: str, timeout: float) -> float:
    """pg_restore of the peer's dump into a fresh database (dropped afterwards, as the drill does)."""
    log("peer: pg_restore of its dump into a fresh database")
    with server.connect(autocommit=True) as conn:
        conn.execute("CREATE DATABASE peer_restore TEMPLATE template0")
    m = pg_client(
        server, "pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--dbname=peer_restore", dump,
        timeout=timeout,
    )  # fmt: skip
    with server.connect(autocommit=True) as conn:
        conn.execute("DROP DATABASE peer_restore WITH (FORCE)")
    return m.seconds


def ratio(ours: float, peer: float) -> str:
    return f"{ours / peer:.2f}" if peer > 0 else "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.postgres", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024, help="the database's size (default 1024 = 1 GiB)")
    ap.add_argument("--change-percent", type=float, default=1.0, help="rows updated before the second backup")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per command, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the run's folder (bench/out/runs/postgres-*)")
    args = ap.parse_args(argv)
    run_dir = OUT / "runs" / f"postgres-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    server = dev_postgres.start()
    stores = []
    try:
        log(f"PostgreSQL on 127.0.0.1:{server.port}; filling about {args.size_mib} MiB")
        started = time.monotonic()
        rows = fill(server, args.size_mib * MiB)
        with server.connect(DATABASE) as conn:
            db_size = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        log(f"filled {format_size(db_size)} ({rows['people']:,} rows per table) in {time.monotonic() - started:.0f} s")
        stores = start_stores(["s1"], run_dir / "stores", start_port=33000 + (os.getpid() % 40) * 100)
        bucket = "bench-postgres"
        create_bucket(stores[0], bucket)
        ours = Ours(run_dir / "ours", server, stores[0], bucket)
        dump = run_dir / "peer.dump"

        log("peer: pg_dump --format=custom --compress=0 to a file (what we stream)")
        raw_dump = pg_client(
            server, "pg_dump", "--format=custom", "--compress=0", f"--file={dump}.raw", DATABASE, timeout=args.timeout
        )
        raw_size = Path(f"{dump}.raw").stat().st_size
        Path(f"{dump}.raw").unlink()
        log("peer: pg_dump --format=custom to a file")
        peer_dump = pg_client(server, "pg_dump", "--format=custom", f"--file={dump}", DATABASE, timeout=args.timeout)
        dump_size = dump.stat().st_size
        log("ours: first backup")
        first, first_doc = ours.run("backup", timeout=args.timeout)
        stored_first = bucket_usage(stores[0], bucket)[0]
        changed = change(server, rows["people"], args.change_percent)
        log(f"changed {changed:,} rows per table (half updated, half new); peer: pg_dump again")
        peer_again = pg_client(
            server, "pg_dump", "--format=custom", f"--file={dump}.2", DATABASE, timeout=args.timeout
        )
        log("ours: second backup")
        second, second_doc = ours.run("backup", timeout=args.timeout)
        stored_second = bucket_usage(stores[0], bucket)[0] - stored_first
        peer_restores = [peer_restore_once(server, f"{dump}.2", args.timeout)]
        log("ours: drill (restore from the store, pg_restore into a scratch database, row counts)")
        drill, drill_doc = ours.run("drill", timeout=args.timeout)
        peer_restores.append(peer_restore_once(server, f"{dump}.2", args.timeout))  # taking turns: less noise
        peer_restore = sum(peer_restores) / len(peer_restores)
        result = drill_doc["results"][0]
        if not result["ok"]:
            raise RuntimeError(f"drill failed: {result['error']}")
        restore_part = float(result["seconds"])
        check_part = float(result["compare_seconds"])

        load = Path("/proc/loadavg").read_text().split()[:3]
        lines = [
            f"PostgreSQL {server.bin.parent.name}, database {format_size(db_size)} "
            f"({rows['people']:,} people, {rows['documents']:,} documents; pg_dump -Fc file {format_size(dump_size)}), "
            f"{os.cpu_count()} cores (load average at the end {' / '.join(load)}), one SeaweedFS store on loopback.",
            "",
            "| operation | ours | peer | ratio ours/peer |",
            "|---|---:|---:|---:|",
            f"| first backup (embassy backup vs pg_dump -Fc to a file) | {first.seconds:.1f} s | "
            f"{peer_dump.seconds:.1f} s | {ratio(first.seconds, peer_dump.seconds)} |",
            f"| first backup vs pg_dump -Fc --compress=0 to a file ({format_size(raw_size)}) | {first.seconds:.1f} s | "
            f"{raw_dump.seconds:.1f} s | {ratio(first.seconds, raw_dump.seconds)} |",
            f"| backup after {args.change_percent:g} % of rows changed ({changed:,} per table) | {second.seconds:.1f} s | "
            f"{peer_again.seconds:.1f} s | {ratio(second.seconds, peer_again.seconds)} |",
            f"| drill (restore from store + pg_restore + row counts) vs pg_restore of the file | "
            f"{drill.seconds:.1f} s | {peer_restore:.1f} s | {ratio(drill.seconds, peer_restore)} |",
            f"| stored by the first backup vs the dump file | {format_size(stored_first)} | {format_size(dump_size)} | "
            f"{ratio(stored_first, dump_size)} |",
            f"| stored by the second backup (new) vs another dump file | {format_size(stored_second)} | "
            f"{format_size(dump_size)} | {ratio(stored_second, dump_size)} |",
            f"| peak RSS (first backup, process tree) | {format_size(first.peak_rss)} | "
            f"{format_size(peer_dump.peak_rss)} | |",
            f"| CPU of the command (first backup; the server's own work apart) | "
            f"{first.cpu_user + first.cpu_sys:.1f} s | {peer_dump.cpu_user + peer_dump.cpu_sys:.1f} s | "
            f"{ratio(first.cpu_user + first.cpu_sys, peer_dump.cpu_user + peer_dump.cpu_sys)} |",
            "",
            f"The drill's {drill.seconds:.1f} s: {restore_part:.1f} s restoring the dump from the store (RTO), "
            f"{check_part:.1f} s for pg_restore into the scratch database and the row counts "
            f"({result['compared'].rsplit('(', 1)[-1].rstrip(')')}), the rest start-up and the keyring's unlock; "
            f"the peer's pg_restore, before and after our drill: "
            f"{' s, '.join(f'{x:.1f}' for x in peer_restores)} s. Bytes of the first snapshot: {first_doc['snapshots'][0]['bytes']:,} "
            f"(the uncompressed custom-format dump); new in the second: {second_doc['snapshots'][0]['new_bytes']:,}.",
        ]
        text = "\n".join(lines)
        print(text)
        (OUT / "postgres.md").write_text(text + "\n")
        return 0
    finally:
        stop_stores(stores)
        dev_postgres.stop(server)
        if not args.keep:
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
