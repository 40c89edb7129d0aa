"""`embassy drill`: restore every registry from each store into scratch space, check, compare, time."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embassy import drill_history
from embassy.backup_service import open_stores, scratch_dir
from embassy.cli import aio
from embassy.cli.context import Context
from embassy.cli.errors import OK, PROBLEMS, USAGE, CliError
from embassy.cli.progress import DrillProgress, drill_progress
from embassy.drill_report import human_age, human_duration, human_size, render_report
from replication.drill import Drill, DrillResult, store_recovery_seconds
from replication.fsutil import atomic_write

HELP = "restore the latest snapshot of every registry from each store into scratch space, compare, time it"
DESCRIPTION = """\
For each store (or those named) and each registry: restore the newest snapshot that store holds,
from that store alone, into a private folder under <data_dir>/tmp, checking every byte against the
signed manifest; compare it with the live registry (a file whose size and mtime are unchanged must
be identical; a restored SQLite database must equal the live one if that is unchanged, else pass
integrity_check; a PostgreSQL dump is restored with pg_restore into a scratch database on its server,
dropped afterwards, and every table's rows must equal those recorded in the snapshot); report the RTO (restore time) and RPO (age of the snapshot); remove the folder. Each result is appended to the drill history in
<data_dir>/mission.db, which is replicated with the registry mission-site.

Exit status: 0 every drill passed; 1 a drill failed (store unreachable, no snapshot, damaged data,
silent corruption); 2 usage or configuration error."""


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "drill",
        parents=[common],
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--store", action="append", metavar="S", help="drill only this store (repeatable)")
    p.add_argument("--registry", action="append", metavar="R", help="drill only this registry (repeatable)")
    p.add_argument("--report", type=Path, metavar="FILE.html", help="also write a self-contained HTML report")
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="stores drilled at the same time (default 1: each RTO is then a restore's alone; raise it when "
        "the stores are far away and their links, not this machine, are the limit)",
    )
    p.add_argument(
        "--full-check",
        action="store_true",
        help="run SQLite's integrity_check on every restored database, even one identical to the unchanged live one",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=drill)


def drill(ctx: Context) -> int:
    config = ctx.config
    args = ctx.args
    if args.parallel < 1:
        raise CliError("--parallel must be at least 1", USAGE)
    specs = ctx.stores(args.store)  # refuses unknown names before anything runs
    registries = [config.registry(n) for n in args.registry] if args.registry else list(config.registries)
    if args.report is not None and args.report.suffix.lower() not in (".html", ".htm"):
        raise CliError(f"--report {args.report}: the report is HTML; name the file *.html", USAGE)
    ring, _ = ctx.load_keyring()
    for reg in registries:
        if not ring.has_registry(reg.name):
            ctx.note(f"registry {reg.name}: no keys yet (never backed up); not drilled")
    registries = [r for r in registries if ring.has_registry(r.name)]
    if not registries:
        raise CliError("nothing to drill: no registry has been backed up yet; run `embassy backup` first", USAGE)

    # The run's key in the history: microseconds, so two drills within one second stay two runs.
    run_time = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    progress = drill_progress(ctx.err) if ctx.interactive else None
    stores = open_stores(config, [s.name for s in specs])
    scratch = scratch_dir(config)
    run_dir: Path | None = None

    async def go(folder: Path) -> list[DrillResult]:
        engine = Drill(
            ring, folder, progress.for_restore if progress else None, args.parallel, full_check=args.full_check
        )
        try:
            return await engine.run(stores, registries)
        finally:
            await asyncio.gather(*(s.close() for s in stores), return_exceptions=True)

    try:
        run_dir = Path(tempfile.mkdtemp(prefix="drill-", dir=scratch))  # mode 0700
        if progress:
            progress.start()
        results = aio.run(go(run_dir))
    except KeyboardInterrupt:
        _clean_up(progress, run_dir)
        # A store call blocked in a worker thread (an endpoint that accepts and never answers) would
        # hold the interpreter's exit for its read timeout, a minute per try: the scratch folder is
        # gone and nothing else is pending, so leave now.
        ctx.note("embassy: interrupted; the drill's scratch folder was removed")
        sys.stdout.flush()
        os._exit(130)
    finally:
        _clean_up(progress, run_dir)

    drill_history.append(config.data_dir, run_time, results)
    for warning in dict.fromkeys(w for r in results for w in r.warnings):
        ctx.note(f"embassy: warning: {warning}")
    for r in results:
        ctx.say(_line(r))
    ok = all(r.ok for r in results)
    passed = sum(1 for r in results if r.ok)
    for name, secs in store_recovery_seconds(results).items():
        if secs is not None:
            ctx.say(f"store {name}: every registry restored and checked in {secs:.2f} s (RTO of a full recovery)")
    ctx.say(f"drill {'passed' if ok else 'FAILED'}: {passed} of {len(results)} restores verified")
    if args.report is not None:
        runs = drill_history.load_runs(config.data_dir)
        current = drill_history.DrillRun(run_time, results)  # with what the history keeps no copy of (row counts)
        html = render_report(
            config.mission.name,
            current,
            runs,
            {s.name: s.jurisdiction for s in config.stores},
            datetime.now(UTC),
        )
        atomic_write(args.report, html.encode("utf-8"), mode=0o644)
        ctx.say(f"report written to {args.report}")
    if ctx.json:
        recovery = store_recovery_seconds(results)
        ctx.emit(
            {
                "ok": ok,
                "time": run_time,
                "results": [r.to_json() for r in results],
                "stores": {
                    name: {"ok": secs is not None, "rto_seconds": None if secs is None else round(secs, 3)}
                    for name, secs in recovery.items()
                },
            }
        )
    return OK if ok else PROBLEMS


def _clean_up(progress: DrillProgress | None, run_dir: Path | None) -> None:
    if progress:
        progress.stop()
    if run_dir is not None:  # whatever the engine left, once its threads have ended
        shutil.rmtree(run_dir, ignore_errors=True)


def _line(r: DrillResult) -> str:
    head = f"{r.store:<10} {r.registry:<16}"
    if not r.ok:
        sid = f"snapshot {r.id[:12]}  " if r.id else ""
        return f"{head} FAIL  {sid}{r.error}"
    rpo = human_age(r.rpo_seconds) if r.rpo_seconds is not None else "-"
    text = (
        f"{head} ok    snapshot {(r.id or '')[:12]}  RTO {human_duration(r.seconds)}  RPO {rpo}  "
        f"{human_size(r.bytes)} in {r.files} file{'' if r.files == 1 else 's'}  {r.compared}"
    )
    if r.chain and r.chain != "ok":
        text += f"  (snapshot chain {r.chain})"
    return text
