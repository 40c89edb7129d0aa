"""`make bench-history`: how each operation's cost grows with the number of snapshots in a store.

    python -m bench.history [--snapshots 10,100,1000] [--store s3|filesystem] [--repeat 3]

One small registry (100 files of 40 KiB, 4 MiB; one file rewritten per snapshot: 1 % changed) is
taken to 1,000 snapshots in one store: a real SeaweedFS store on loopback by default (`--store
filesystem`: a folder store). The history between the measuring points is built in one process
through the engine's Python API (bench/history_build.py: one keyring unlock for hundreds of
snapshots). At each point (10, 100 and 1,000 snapshots) the operations are timed through the real
`embassy` command, every run a process of its own: backup (after a 1 % change; the last of these
runs makes the point's snapshot count), `restore latest` (checked byte for byte), `verify`
(metadata: every manifest and the packs it names, no pack read), `prune --dry-run` and `status`.
Goal: no operation's time grows more than 1.5x from the first point to the last, peak RSS flat.
Beside the wall-time ratio stands the ratio of CPU time (the process tree's user + system), which
another load on this shared machine moves far less, and an info row with the builder's own backups
(no start-up: the engine's cost alone, the median of the rounds just before each point).
Prints the table and writes it as markdown to bench/out/history.md.
"""

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import dataset, ours, procs, report
from bench.cli import in_session, write_out
from bench.dataset import MiB, format_size
from bench.history_build import FILE_SIZE, FILES, change, create
from bench.session import Session, engine_version, log

REGISTRY = "records"
TIME_LIMIT = 1.5  # last point / first point
# Flat: the last point's peak within 1.1x + 8 MiB of the first's. Tighter than bench-backup's 1.2x +
# 16 MiB from 1 to 3 GiB: here the data stays the same size and only the history grows, and one
# command's peak varies by a MiB or two from run to run.
RSS_FACTOR, RSS_SLACK = 1.1, 8 * MiB
ROOT = Path(__file__).resolve().parent.parent
IN_PROCESS = "backup in-process (no start-up)"
IN_PROCESS_ROUNDS = 20  # the median of (at most) this many builder rounds right before each point
OPERATIONS = (
    "start-up + unlock (keys status)",
    "backup (1 % changed)",
    "restore latest",
    "verify (metadata)",
    "prune --dry-run",
    "status",
)


@dataclass
class Series:
    """One operation's median time and peak RSS at each point; ``error`` once a run failed."""

    operation: str
    seconds: dict[int, float] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    rss: dict[int, int] = field(default_factory=dict)
    runs: dict[int, list[float]] = field(default_factory=dict)
    error: str = ""
    info: bool = False  # no goal: shown for what it tells

    def add(self, point: int, results: list[ours.Result]) -> None:
        bad = next((r for r in results if not r.ok), None)
        if bad is not None:
            self.error = self.error or f"at {point}: {bad.error}"
            return
        times = [r.seconds for r in results]
        self.runs[point] = times
        self.seconds[point] = statistics.median(times)
        self.cpu[point] = statistics.median(r.measured.cpu_user + r.measured.cpu_sys for r in results)
        self.rss[point] = max(r.measured.peak_rss for r in results)

    def ratio(self, first: int, last: int, figures: dict[int, float] | None = None) -> float | None:
        values = self.seconds if figures is None else figures
        if first not in values or last not in values or values[first] <= 0:
            return None
        return values[last] / values[first]


def verdict(value: float | None, limit: float) -> str:
    return "n/a" if value is None else ("PASS" if value <= limit else "FAIL")


def table(series: list[Series], points: list[int]) -> tuple[list[str], list[list[str]]]:
    first, last = points[0], points[-1]
    header = [
        "operation",
        *(f"at {p}" for p in points),
        f"ratio {last}/{first}",
        "CPU ratio",
        "peak RSS " + " / ".join(str(p) for p in points),
        "goal",
        "result",
    ]
    lines = []
    for s in series:
        ratio = s.ratio(first, last)
        cpu = s.ratio(first, last, s.cpu)
        lines.append(
            [
                s.operation,
                *(f"{s.seconds[p]:.2f} s" if p in s.seconds else "n/a" for p in points),
                f"{ratio:.2f}" if ratio is not None else "n/a",
                f"{cpu:.2f}" if cpu is not None else ("-" if s.info else "n/a"),
                " / ".join(format_size(s.rss[p]) if p in s.rss else "n/a" for p in points) if s.rss else "-",
                "-" if s.info else f"ratio <= {TIME_LIMIT}",
                "info" if s.info else verdict(ratio, TIME_LIMIT),
            ]
        )
    measured = [s for s in series if s.rss]
    peaks = {p: max((s.rss[p] for s in measured if p in s.rss), default=0) for p in points}
    rss_ok = all(peaks.values())
    limit = RSS_FACTOR * peaks[first] + RSS_SLACK
    lines.append(
        [
            "peak RSS, all of the above",
            *(format_size(peaks[p]) if peaks[p] else "n/a" for p in points),
            f"{peaks[last] / peaks[first]:.2f}" if rss_ok else "n/a",
            "-",
            "-",
            f"flat: <= {format_size(limit)}" if peaks[first] else "flat",
            ("PASS" if peaks[last] <= limit else "FAIL") if rss_ok else "n/a",
        ]
    )
    return header, lines


def rss_growth(series: list[Series], points: list[int]) -> list[str]:
    """A note naming the command whose peak RSS grew most from the first point to the last."""
    first, last = points[0], points[-1]
    grown = [(s.rss[last] - s.rss[first], s.operation) for s in series if first in s.rss and last in s.rss]
    if not grown:
        return []
    delta, operation = max(grown)
    return [f"largest peak RSS growth from {first} to {last} snapshots: {operation}, {format_size(delta)}"]


def same_tree(restored: Path, live: Path) -> str:
    """'' when ``restored`` holds exactly the files of ``live`` with the same bytes, else why not."""
    want = {p.name: p.read_bytes() for p in live.iterdir()}
    got = {p.name: p.read_bytes() for p in restored.iterdir()} if restored.is_dir() else {}
    if want == got:
        return ""
    differ = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    return f"restored tree differs from the registry: {len(differ)} files (e.g. {differ[0]})"


class History:
    """The mission, its registry folder and how many snapshots (and changes) it has."""

    def __init__(self, s: Session, args: argparse.Namespace) -> None:
        self.args = args
        self.folder = s.run_dir / "registry"
        self.size = create(self.folder, args.seed, args.files, FILE_SIZE)
        if args.store == "s3":
            (store,) = s.start_stores(["s1"])
            ref: ours.AnyStoreRef = ours.StoreRef("s1", store, "emb-history", "LU")
        else:
            ref = ours.FolderStoreRef("s1", s.run_dir / "store", "LU")
        registries = [ours.RegistryRef(REGISTRY, "directory", self.folder)]
        self.mission = ours.Mission(
            s.run_dir / "ours", self.folder, [ref], 1, args.timeout, args.engine_src, registries=registries
        )
        self.scratch = s.run_dir / "restores"
        self.scratch.mkdir()
        self.snapshots = 0
        self.built_seconds = 0.0
        self.built_rounds = 0
        self.round_seconds: dict[int, float] = {}  # snapshot number -> its in-process backup's seconds

    def build_to(self, count: int) -> None:
        """In-process backups (each after a 1 % change) until the store holds ``count`` snapshots."""
        rounds = count - self.snapshots
        if rounds <= 0:
            return
        log(f"building the history: {rounds} snapshots in one process ({self.snapshots} -> {count})")
        pythonpath = [str(p) for p in (self.args.engine_src, ROOT) if p is not None]
        env = {**self.mission.env, "PYTHONPATH": ":".join(pythonpath)}
        argv = [sys.executable, "-m", "bench.history_build", str(self.mission.config), REGISTRY, str(self.folder)]
        argv += ["--first", str(self.snapshots + 1), "--rounds", str(rounds), "--files", str(self.args.files)]
        argv += ["--seed", str(self.args.seed)]
        m = procs.run(argv, env, cwd=ROOT, timeout=self.args.total_timeout)
        if not m.ok:
            raise RuntimeError(f"building the history failed: {m.last_error_line()}")
        doc = json.loads(m.stdout.strip().splitlines()[-1])
        self.built_seconds += float(doc["seconds"])
        self.built_rounds += rounds
        for n, t in enumerate(doc["round_seconds"], start=self.snapshots + 1):
            self.round_seconds[n] = float(t)
        self.snapshots = count

    def in_process(self, point: int) -> float | None:
        """The median in-process backup of the (at most 20) rounds that made the snapshots just before."""
        recent = [t for n, t in sorted(self.round_seconds.items()) if n <= point][-IN_PROCESS_ROUNDS:]
        return statistics.median(recent) if recent else None

    def backup(self) -> ours.Result:
        """`embassy backup` after the next 1 % change: one more snapshot."""
        change(self.folder, self.snapshots + 1, self.args.seed, self.args.files, FILE_SIZE)
        r = self.mission.backup()
        if r.ok:
            self.snapshots += 1
            if (r.doc or {}).get("snapshots", [{}])[0].get("id") is None:
                return ours.Result(r.measured, r.doc, "backup --json names no snapshot")
        return r

    def restore(self, i: int) -> ours.Result:
        target = self.scratch / f"restore-{i}"
        try:
            r = self.mission.restore(REGISTRY, target, "s1")
            differs = same_tree(target, self.folder) if r.ok else ""
            return ours.Result(r.measured, r.doc, differs) if differs else r
        finally:
            shutil.rmtree(target, ignore_errors=True)

    def verify(self) -> ours.Result:
        r = self.mission.run("verify", "--store", "s1")
        if r.ok and (r.doc or {}).get("ok") is not True:
            return ours.Result(r.measured, r.doc, f"verify reported problems: {json.dumps(r.doc)[:300]}")
        return r


def measure_point(h: History, point: int, series: list[Series], repeat: int) -> None:
    """``repeat`` runs of each operation at ``point`` snapshots, taking turns; medians recorded."""
    startup, backup, restore, verify, prune, status, in_process = series
    h.build_to(point - repeat)
    if (t := h.in_process(point)) is not None:
        in_process.seconds[point] = t
    log(f"at {point} snapshots: {repeat} CLI backups, each after a 1 % change")
    backup.add(point, [h.backup() for _ in range(repeat)])
    if h.snapshots != point:  # a failed backup: build the rest so the other operations see ``point``
        h.build_to(point)
    runs: dict[str, list[ours.Result]] = {s.operation: [] for s in (startup, restore, verify, prune, status)}
    ops: list[tuple[Series, Callable[[int], ours.Result]]] = [
        (startup, lambda i: h.mission.unlock_only()),
        (restore, h.restore),
        (verify, lambda i: h.verify()),
        (prune, lambda i: h.mission.run("prune", "--dry-run")),
        (status, lambda i: h.mission.run("status")),
    ]
    for i in range(repeat):
        log(f"at {point} snapshots: keys status, restore latest, verify, prune --dry-run, status ({i + 1} of {repeat})")
        for s, op in ops:
            runs[s.operation].append(op(i))
    for s, _ in ops:
        s.add(point, runs[s.operation])


def render(series: list[Series], h: History, args: argparse.Namespace, points: list[int]) -> tuple[str, str]:
    header, lines = table(series, points)
    where = "one SeaweedFS store on loopback" if args.store == "s3" else "one filesystem store"
    title = f"bench-history: cost against the number of snapshots, {where}"
    reg = f"registry: {args.files} files of {format_size(FILE_SIZE)} ({format_size(h.size)}), one file rewritten per snapshot"
    built = (
        f"history built in-process: {h.built_rounds} snapshots in {h.built_seconds:.0f} s "
        f"({h.built_rounds / h.built_seconds:.1f}/s)"
        if h.built_seconds
        else "history: no in-process snapshots"
    )
    notes = [
        *(f"{s.operation}: n/a: {s.error}" for s in series if s.error),
        *(
            f"{s.operation}: runs " + "; ".join(f"at {p}: " + ", ".join(f"{t:.2f}" for t in s.runs[p]) for p in s.runs)
            for s in series
            if s.runs
        ),
        *(
            f"{s.operation}: CPU (user + system) " + "; ".join(f"at {p}: {c:.2f} s" for p, c in s.cpu.items())
            for s in series
            if s.cpu
        ),
        f"Times are the median of {args.repeat} runs of the real `embassy` command at each point, start-up and "
        f"keyring unlock included (first row). The backups at a point are its last {args.repeat} snapshots. CPU "
        "ratio: the same for the median CPU time of the command's process tree. The in-process row is the "
        f"builder's own backups (bench/history_build.py), the median of the {IN_PROCESS_ROUNDS} rounds before "
        "the point (fewer at the first), with no start-up: the engine's cost alone. Peak RSS: the peak of the "
        f"command's process tree; flat means the last point within {RSS_FACTOR}x + {format_size(RSS_SLACK)} "
        "of the first.",
        *rss_growth(series, points),
    ]
    engine = f"engine: {engine_version(args.engine_src)}"
    text = "\n".join([title, engine, reg, built, "", report.plain_table(header, lines), "", *(f"- {n}" for n in notes)])
    md = "\n".join(
        [
            f"### {title}",
            "",
            f"Measured {time.strftime('%Y-%m-%d')} on this machine (2 shared cores):",
            "",
            "```",
            reg,
            built,
            engine,
            "```",
            "",
            report.markdown_grid(header, lines),
            "",
            *(f"- {n}" for n in notes),
            "",
        ]
    )
    return text, md


def parse_points(text: str) -> list[int]:
    try:
        points = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of snapshot counts: {text!r} (use e.g. 10,100,1000)") from None
    if len(points) < 2 or points != sorted(set(points)) or points[0] < 1:
        raise argparse.ArgumentTypeError(f"snapshot counts must rise, at least two of them: {text!r}")
    return points


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.history",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--snapshots",
        type=parse_points,
        default=[10, 100, 1000],
        help="the measuring points, rising (default 10,100,1000; e.g. 3,6,12 for a quick run)",
    )
    ap.add_argument("--store", choices=("s3", "filesystem"), default="s3", help="SeaweedFS on loopback (default)")
    ap.add_argument("--files", type=int, default=FILES, help=f"files in the registry (default {FILES})")
    ap.add_argument("--repeat", type=int, default=3, choices=range(1, 10), metavar="N", help="runs per point (3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=300, help="limit per measured command, seconds (default 300)")
    ap.add_argument("--total-timeout", type=float, default=7200, help="limit for the whole run, seconds (7200)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder under bench/out/runs")
    ap.add_argument("--markdown", type=Path, help="where to write the markdown table (default bench/out/history.md)")
    ap.add_argument("--engine-src", type=Path, help="run `embassy` from this checkout (first on PYTHONPATH)")
    ap.add_argument("--strict", action="store_true", help="exit 1 unless every goal passes")
    args = ap.parse_args(argv)
    points: list[int] = args.snapshots
    if points[0] <= args.repeat:
        ap.error(f"the first point ({points[0]}) must be above --repeat ({args.repeat}): its backups are timed")
    series = [Series(op, info=op == OPERATIONS[0]) for op in OPERATIONS] + [Series(IN_PROCESS, info=True)]

    def body(s: Session) -> tuple[str, str]:
        h = History(s, args)
        log("the first snapshot, through the CLI (it publishes the key bundle)")
        first = h.backup()
        if not first.ok:
            raise RuntimeError(f"the first backup failed: {first.error}")
        for point in points:
            measure_point(h, point, series, args.repeat)
        return render(series, h, args, points)

    out = in_session(Session("history", args.total_timeout, args.keep, needs_restic=False), body)
    if isinstance(out, int):
        return out
    write_out(*out, args.markdown or dataset.OUT / "history.md")
    _, lines = table(series, points)
    if args.strict and any(line[-1] not in ("PASS", "info") for line in lines):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
