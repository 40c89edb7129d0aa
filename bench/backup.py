"""`make bench-backup`: backup, incremental, restore and memory, ours against restic in one run.

    python -m bench.backup [--size 1G] [--restic-x3 multiply|run] [--flatness [--flat-size 3G]]

Four SeaweedFS stores on loopback: one for restic, three for us. Ours is the real `embassy`
command (docs/commands.md) in subprocesses; a command that is missing or fails shows as n/a with its
error and the run goes on. Prints the table and writes it as markdown to bench/out/backup.md.
"""

import argparse
import sys

from bench import checks, cli, dataset, mutate, ours, procs, repeat, report
from bench.dataset import MiB, format_size
from bench.report import Outcome, Row
from bench.restic import Restic
from bench.session import Session, log, prepare_dataset
from bench.stores import DevStore

RSS_LIMIT = 256 * MiB


def rss(r: ours.Result) -> int | None:
    return r.measured.peak_rss if r.ok else None


def restic_or_note(m: procs.Measured, what: str, out: Outcome) -> float | None:
    if m.ok:
        out.restic_figures[what] = f"{m.seconds:.2f} s, peak RSS {format_size(m.peak_rss)}"
        return m.seconds
    out.notes.append(f"restic {what} failed: {m.last_error_line()}")
    return None


def run(s: Session, args: argparse.Namespace) -> Outcome:
    out = Outcome()
    ds, wc = prepare_dataset(args.size, args.seed, s.run_dir / "data")
    total = wc.total_bytes
    r_store, s1, s2, s3 = s.start_stores(["restic", "s1", "s2", "s3"])
    rs = Restic(r_store, "restic", s.run_dir / "restic-cache", timeout=args.timeout)
    m = rs.init()
    if not m.ok:
        raise RuntimeError(f"restic init: {m.last_error_line()}")
    one = ours.Mission(
        s.run_dir / "ours-1", wc.root, [ours.StoreRef("s1", s1, "emb-one", "LU")], 1, args.timeout, args.engine_src
    )
    refs = [ours.StoreRef(n, st, "emb-three", j) for n, st, j in (("s1", s1, "LU"), ("s2", s2, "EE"), ("s3", s3, "CH"))]
    three = ours.Mission(s.run_dir / "ours-3", wc.root, refs, 2, args.timeout, args.engine_src)

    log("ours: start-up and keyring unlock alone (embassy keys status)")
    u = one.unlock_only()
    out.rows.append(
        Row("start-up + unlock (keys status)", ours=u.seconds if u.ok else None, rss_ours=rss(u), error=u.error or "")
    )

    # -- first backup --------------------------------------------------------------------------
    log("restic: first backup")
    rb, _ = rs.backup(wc.root)
    r_first = restic_or_note(rb, "first backup", out)
    r_stored = rs.stored_bytes()
    log("ours: first backup to 1 store")
    b1 = one.backup()
    out.rows.append(
        Row(
            "first backup, 1 store",
            ours=b1.seconds if b1.ok else None,
            restic=r_first,
            limit=0.7,
            goal="ratio <= 0.7",
            bytes_processed=total,
            stored_ours=format_size(one.stored_bytes("s1")) if b1.ok else "",
            stored_restic=format_size(r_stored),
            rss_ours=rss(b1),
            rss_restic=rb.peak_rss,
            error=b1.error or "",
        )
    )

    r_three: float | None = None
    if r_first is not None:
        if args.restic_x3 == "run":
            times = [r_first]
            for k in (2, 3):
                extra = Restic(r_store, f"restic-{k}", s.run_dir / f"restic-cache-{k}", timeout=args.timeout)
                extra.init()
                log(f"restic: first backup into repository {k} of 3")
                times.append(extra.backup(wc.root)[0].seconds)
            r_three = sum(times)
            out.notes.append(
                f"3 stores: restic = the sum of 3 measured runs, one per repository ({', '.join(f'{t:.1f}' for t in times)} s)."
            )
        else:
            r_three = 3 * r_first
            out.notes.append(
                "3 stores: restic = 3 × its measured single run (one run per repository; --restic-x3 run measures all three)."
            )
    log("ours: first backup to 3 stores")
    b3 = three.backup()
    per_store = format_size(three.stored_bytes("s1")) if b3.ok else ""
    out.rows.append(
        Row(
            "first backup, 3 stores",
            ours=b3.seconds if b3.ok else None,
            restic=r_three,
            limit=0.5,
            goal="ratio <= 0.5 (vs 3 restic runs)",
            bytes_processed=total,
            stored_ours=f"3 × {per_store}" if per_store else "",
            stored_restic=f"3 × {format_size(r_stored)}",
            rss_ours=rss(b3),
            rss_restic=rb.peak_rss,
            error=b3.error or "",
        )
    )

    # -- the 1 % change, then the incremental --------------------------------------------------
    change = mutate.mutate(wc.root, args.seed, ds.db_path)
    log(change.describe())
    source = dataset.tree_hashes(wc.root)  # for the restore checks; also re-warms the page cache

    log("restic: incremental backup")
    idx_before = rs.index_ids()
    before = rs.stored_bytes()
    ri, ri_summary = rs.backup(wc.root)
    if ri_summary:
        out.notes.append(
            "restic's incremental used its parent snapshot: "
            f"{ri_summary.get('files_new', 0)} new, {ri_summary.get('files_changed', 0)} changed, "
            f"{ri_summary.get('files_unmodified', 0)} unmodified files."
        )
    r_inc = restic_or_note(ri, "incremental backup", out)
    r_inc_stored = rs.stored_bytes() - before
    r_db: int | None = None
    try:
        new_blobs = rs.data_blobs(rs.index_ids() - idx_before)
        r_db = sum(new_blobs[b][0] for b in set(rs.file_blobs(dataset.DB_REL.as_posix())) if b in new_blobs)
    except RuntimeError as e:
        out.notes.append(f"restic's database share could not be attributed: {e}")

    log("ours: incremental backup, 1 store")
    o_before = one.stored_bytes("s1")
    i1 = (
        one.backup()
        if b1.ok
        else ours.skipped("the first backup to 1 store failed, so this would not be an incremental")
    )
    o_inc_stored = one.stored_bytes("s1") - o_before
    out.rows.append(
        Row(
            "incremental after 1 % change, 1 store",
            ours=i1.seconds if i1.ok else None,
            restic=r_inc,
            limit=0.8,
            goal="ratio <= 0.8",
            bytes_processed=total,
            stored_ours=f"+{format_size(o_inc_stored)}" if i1.ok else "",
            stored_restic=f"+{format_size(r_inc_stored)}",
            rss_ours=rss(i1),
            rss_restic=ri.peak_rss,
            error=i1.error or "",
        )
    )
    o_db = ours.snapshot_field(i1, ours.DB_REGISTRY, "stored_bytes") if i1.ok else None
    db_err = i1.error or ("" if o_db is not None else "no stored_bytes for registry 'db' in backup --json")
    out.rows.append(
        Row(
            "incremental: database bytes stored",
            ours=o_db,
            restic=r_db,
            unit="bytes",
            limit=0.5,
            goal="ratio <= 0.5",
            error=db_err,
        )
    )
    out.notes.append(
        f"Database bytes stored, for {format_size(change.db.changed_bytes if change.db else 0)} of changed pages: ours = "
        "`stored_bytes` of the `db` registry in `backup --json` (uploaded to one store); restic = the stored "
        "(compressed, encrypted) size of the data blobs that are new in this backup (its new index files) and belong "
        "to db/registry.sqlite in the new snapshot (its tree, via `restic cat blob`). Both tools' whole growth "
        "(all registries and metadata) is the 'stored' column of the incremental row."
    )
    log("ours: incremental backup, 3 stores")
    i3 = three.backup() if b3.ok else ours.skipped("the first backup to 3 stores failed")
    out.rows.append(
        Row(
            "incremental, 3 stores (vs 3 × restic)",
            ours=i3.seconds if i3.ok else None,
            restic=3 * r_inc if r_inc is not None else None,
            bytes_processed=total,
            rss_ours=rss(i3),
            rss_restic=ri.peak_rss,
            error=i3.error or "",
        )
    )

    # -- restore latest ------------------------------------------------------------------------
    # Each run into a folder of its own, none removed before the end: creating files where many were
    # just deleted costs ext4 (without a journal, as here) far more, and the next tool would pay it.
    r_runs, o_runs = repeat.alternate(
        args.repeat,
        lambda i: rs.restore(s.run_dir / f"restore-restic-{i}"),
        lambda i: one.restore_all(s.run_dir / f"restore-ours-{i}", "s1"),
        "restore latest (ours: every registry, files and db, from s1)",
    )
    rr = repeat.median(r_runs, lambda m: m.seconds if m.ok else None) or r_runs[0]
    r_rest = restic_or_note(rr, "restore", out)
    if rr.ok:
        out.notes.append(f"restic's restore: {checks.compare_tree(s.run_dir / 'restore-restic-0', source, wc.root)[1]}")
    # Every one of our runs must give the data back exactly; only then does its time count.
    checked = []
    for i, r in enumerate(o_runs):
        if r.ok:
            same_ok, same = checks.compare_tree(s.run_dir / f"restore-ours-{i}", source, wc.root)
            if not same_ok:
                r = ours.Result(r.measured, r.doc, f"run {i + 1}: restored tree differs: {same}")
            elif i == 0:
                out.notes.append(f"our restore: {same} (every run checked)")
        checked.append(r)
    failed = next((r for r in checked if not r.ok), None)
    best = repeat.median(checked, lambda r: r.seconds) if failed is None else None
    out.rows.append(
        Row(
            "restore latest, 1 store",
            ours=best.seconds if best else None,
            restic=r_rest,
            limit=0.8,
            goal="ratio <= 0.8",
            bytes_processed=total,
            rss_ours=max(r.measured.peak_rss for r in checked) if best else None,
            rss_restic=max(m.peak_rss for m in r_runs),
            error=(failed.error or "") if failed else "",
        )
    )
    out.notes.append(
        f"Restore: {args.repeat} runs each, taking turns, median quoted; restic "
        f"{repeat.spread(r_runs, lambda m: m.seconds if m.ok else None)}, ours "
        f"{repeat.spread(checked, lambda r: r.seconds if r.ok else None)}; median CPU (user + system) restic "
        f"{repeat.cpu(r_runs)}, ours {repeat.cpu([r.measured for r in checked])}. Ours is one command, "
        "`restore latest --all` (both registries), like restic's."
    )

    out.rows.append(report.rss_goal_row([r for r in out.rows if r.unit == "s"], RSS_LIMIT))
    if args.flatness:
        out.rows += flatness(s, args, r_store, s1, out)
    return out


def flatness(s: Session, args: argparse.Namespace, r_store: DevStore, s1: DevStore, out: Outcome) -> list[Row]:
    """Peak RSS of the first backup and the restore at ``--flat-size`` against the same at ``--size``."""
    at_base = {r.operation: r.rss_ours for r in out.rows}
    big, wc = prepare_dataset(args.flat_size, args.seed, s.run_dir / "data-flat")
    label = format_size(big.total_bytes)
    refs = [ours.StoreRef("s1", s1, "emb-flat", "LU")]
    mission = ours.Mission(s.run_dir / "ours-flat", wc.root, refs, 1, args.timeout, args.engine_src)
    rs = Restic(r_store, "restic-flat", s.run_dir / "restic-cache-flat", timeout=args.timeout)
    rs.init()
    log(f"restic: first backup of {label}")
    rb, _ = rs.backup(wc.root)
    log(f"ours: first backup of {label}")
    b = mission.backup()
    log(f"ours: restore of {label}")
    t = s.run_dir / "restore-flat"
    parts = [mission.restore_all(t, "s1")]
    failed = next((p for p in parts if not p.ok), None)
    measured = {
        "first backup": (at_base.get("first backup, 1 store"), rss(b), rb.peak_rss if rb.ok else None, b.error),
        "restore": (
            at_base.get("restore latest, 1 store"),
            None if failed else max(p.measured.peak_rss for p in parts),
            None,
            failed.error if failed else None,
        ),
    }
    rows = []
    for what, (base, peak, theirs, error) in measured.items():
        limit = min(RSS_LIMIT, int(1.2 * base) + 16 * MiB) if base else RSS_LIMIT
        rows.append(
            Row(
                f"{what} peak RSS at {label} (at {args.size}: {format_size(base) if base else 'n/a'})",
                ours=float(peak) if peak else None,
                restic=float(theirs) if theirs else None,
                unit="bytes",
                limit=float(limit),
                absolute=True,
                goal=f"flat: <= {format_size(limit)}",
                error="" if peak else (error or "no figure at the smaller size"),
            )
        )
    out.notes.append(
        f"Flatness: ours must stay <= 256 MiB at {label} and within 1.2 × (+16 MiB) of its own peak at {args.size}."
    )
    return rows


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--restic-x3",
        choices=("multiply", "run"),
        default="multiply",
        help="3-store comparison: 3 × one restic run (default) or three measured runs",
    )
    repeat.repeat_arg(ap)
    ap.add_argument("--flatness", action="store_true", help="also measure peak RSS at --flat-size (slow)")
    ap.add_argument("--flat-size", default="3G")


def main(argv: list[str] | None = None) -> int:
    return cli.main("backup", __doc__, argv, add_args, run)


if __name__ == "__main__":
    sys.exit(main())
