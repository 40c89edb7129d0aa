"""`make bench-verify`: proving the copies, ours against restic in one run, on the bench-backup dataset.

    python -m bench.verify [--size 1G]

Both tools first back up the same dataset to their own SeaweedFS store (not measured here; see
bench-backup), then:
- `embassy verify --store S --read-data` against `restic check --read-data` (goal: ratio <= 0.8);
- `embassy drill --store S` (restores every registry into scratch space, checks every byte,
  compares with the live registry, times it: the RTO) against `restic restore latest` (<= 0.9).
Prints the table and writes it as markdown to bench/out/verify.md.
"""

import argparse
import shutil
import sys
from typing import Any

from bench import cli, ours, procs, repeat, report
from bench.dataset import MiB, format_size
from bench.report import Outcome, Row
from bench.restic import Restic
from bench.session import Session, log, prepare_dataset
from replication.fsutil import spread_subfolders

RSS_LIMIT = 256 * MiB


def drill_summary(doc: dict[str, Any] | None) -> str:
    results = (doc or {}).get("results", [])
    if not results:
        return "no results in drill --json"
    parts = [
        f"{r.get('registry')}@{r.get('store')}: {'ok' if r.get('ok') else 'FAILED'}, "
        f"RTO {float(r.get('seconds') or 0):.2f} s, {format_size(int(r.get('bytes') or 0))}"
        for r in results
    ]
    return "; ".join(parts)


def run(s: Session, args: argparse.Namespace) -> Outcome:
    out = Outcome()
    _, wc = prepare_dataset(args.size, args.seed, s.run_dir / "data")
    total = wc.total_bytes
    r_store, s1 = s.start_stores(["restic", "s1"])
    rs = Restic(r_store, "restic", s.run_dir / "restic-cache", timeout=args.timeout)
    m = rs.init()
    if not m.ok:
        raise RuntimeError(f"restic init: {m.last_error_line()}")
    mission = ours.Mission(
        s.run_dir / "ours", wc.root, [ours.StoreRef("s1", s1, "emb-one", "LU")], 1, args.timeout, args.engine_src
    )
    log("ours: start-up and keyring unlock alone (embassy keys status), three times")
    # Added to every drill's store RTO, so a median of three rather than one sample (0.52-0.67 s).
    u_runs = [mission.unlock_only() for _ in range(3)]
    u = repeat.median(u_runs, lambda r: r.seconds if r.ok else None) or u_runs[0]
    out.rows.append(
        Row(
            "start-up + unlock (keys status)",
            ours=u.seconds if u.ok else None,
            rss_ours=u.measured.peak_rss if u.ok else None,
            error=u.error or "",
        )
    )
    log("restic: backup (setup, not compared here)")
    rb, _ = rs.backup(wc.root)
    if not rb.ok:
        raise RuntimeError(f"restic backup: {rb.last_error_line()}")
    out.restic_figures["backup (setup)"] = f"{rb.seconds:.2f} s"
    log("ours: backup (setup, not compared here)")
    b = mission.backup()
    if not b.ok:
        out.notes.append(f"our backup failed, so verify and drill have nothing to check: {b.error}")

    c_runs, v_runs = repeat.alternate(
        args.repeat,
        lambda i: rs.check_read_data(),
        lambda i: mission.verify("s1"),
        "check --read-data / verify --read-data",
    )
    rc = repeat.median(c_runs, lambda m: m.seconds if m.ok else None) or c_runs[0]
    out.restic_figures["check --read-data"] = f"{rc.seconds:.2f} s" if rc.ok else f"failed: {rc.last_error_line()}"

    def verify_error(r: ours.Result) -> str:
        return r.error or ("" if (r.doc or {}).get("ok") is True else "verify reported problems: " + str(r.doc))

    bad = next((r for r in v_runs if verify_error(r)), None)
    v = bad or repeat.median(v_runs, lambda r: r.seconds) or v_runs[0]
    v_err = verify_error(v)
    out.notes.append(
        f"verify: {args.repeat} runs each, taking turns, median quoted; restic "
        f"{repeat.spread(c_runs, lambda m: m.seconds if m.ok else None)}, ours "
        f"{repeat.spread(v_runs, lambda r: None if verify_error(r) else r.seconds)}; median CPU (user + system) "
        f"restic {repeat.cpu(c_runs)}, ours {repeat.cpu([r.measured for r in v_runs])}"
    )
    out.rows.append(
        Row(
            "verify --read-data, 1 store",
            ours=v.seconds if not v_err else None,
            restic=rc.seconds if rc.ok else None,
            limit=0.8,
            goal="ratio <= 0.8 (vs check --read-data)",
            bytes_processed=total,
            stored_ours=format_size(mission.stored_bytes("s1")) if b.ok else "",
            stored_restic=format_size(rs.stored_bytes()),
            rss_ours=max(r.measured.peak_rss for r in v_runs) if not v_err else None,
            rss_restic=max(m.peak_rss for m in c_runs),
            error=v_err[:300],
        )
    )

    # Taking turns like the other comparisons (with restic's three restores first, every drill came
    # last, and the later drills of a run were the slower ones). A drill deletes what it restored,
    # so restic's restore is removed after it too, from a scratch folder kept like the drill's: on
    # this VM, pages just freed are cheap to write again and pages the kernel has handed back to the
    # host are not, so whoever runs right after the other's clean-up is favoured. Each tool now
    # runs right after the other's; before, restic's restores followed our drills' clean-ups and
    # our drills followed restic's restores, which freed nothing (store RTO 1.49 s, then
    # 2.36-2.55 s; 1.56-1.86 s once both cleaned up).
    scratch = s.run_dir / "restic-scratch"
    scratch.mkdir()
    spread_subfolders(scratch)

    def restic_restore(i: int) -> procs.Measured:
        target = scratch / f"restore-{i}"
        try:
            return rs.restore(target)
        finally:
            shutil.rmtree(target, ignore_errors=True)

    r_runs, d_runs = repeat.alternate(
        args.repeat, restic_restore, lambda i: mission.drill("s1"), "restic restore / drill --store s1"
    )
    rr = repeat.median(r_runs, lambda m: m.seconds if m.ok else None) or r_runs[0]
    out.restic_figures["restore"] = f"{rr.seconds:.2f} s" if rr.ok else f"failed: {rr.last_error_line()}"

    def drill_error(r: ours.Result) -> str:
        return r.error or (
            "" if (r.doc or {}).get("ok") is True else "drill reported a failure: " + drill_summary(r.doc)
        )

    def store_rto(r: ours.Result) -> float | None:
        # The goal is the drill's RTO: how long recovering the mission from this store takes, every
        # byte checked. A restic restore's time includes its start-up and key derivation, so ours
        # counts the same (the `keys status` row) on top of the store's recovery time from the JSON.
        value = ((r.doc or {}).get("stores") or {}).get("s1", {}).get("rto_seconds")
        return float(value) if isinstance(value, int | float) and not drill_error(r) else None

    bad_drill = next((r for r in d_runs if drill_error(r)), None)
    d = bad_drill or repeat.median(d_runs, store_rto) or d_runs[0]
    d_err = drill_error(d)
    rto = (u.seconds + s_rto) if (u.ok and (s_rto := store_rto(d)) is not None) else None
    out.notes.append(
        f"drill: {args.repeat} runs each, taking turns with restic's restores, median quoted; restic restore "
        f"{repeat.spread(r_runs, lambda m: m.seconds if m.ok else None)}, our store RTO "
        f"{repeat.spread(d_runs, store_rto)} (plus start-up {u.seconds:.2f} s, the median of "
        f"{repeat.spread(u_runs, lambda r: r.seconds if r.ok else None)})"
    )
    out.rows.append(
        Row(
            "drill RTO: start-up + every registry restored, all bytes checked",
            ours=rto,
            restic=rr.seconds if rr.ok else None,
            limit=0.9,
            goal="ratio <= 0.9 (vs restore)",
            bytes_processed=total,
            rss_ours=d.measured.peak_rss if not d_err else None,
            rss_restic=rr.peak_rss,
            error=d_err[:300] if d_err else ("" if rto is not None else "no store RTO in drill --json"),
        )
    )
    out.rows.append(
        Row(
            "drill command (RTO + compare with the live registry + clean up)",
            ours=d.seconds if not d_err else None,
            restic=rr.seconds if rr.ok else None,
            goal="-",
            bytes_processed=total,
            rss_ours=d.measured.peak_rss if not d_err else None,
            error=d_err[:300],
        )
    )
    if d.doc:
        out.notes.append(
            f"drill: {drill_summary(d.doc)}; the store's registries restore side by side, so its RTO is"
            " the span from the first restore's start to the last one's end"
        )
    out.rows.append(report.rss_goal_row([r for r in out.rows if r.unit == "s"], RSS_LIMIT))
    return out


def add_args(ap: argparse.ArgumentParser) -> None:
    repeat.repeat_arg(ap)


def main(argv: list[str] | None = None) -> int:
    return cli.main("verify", __doc__, argv, add_args, run)


if __name__ == "__main__":
    sys.exit(main())
