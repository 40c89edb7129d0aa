"""One benchmark run: a scratch folder, the stores, a time limit, and a clean exit whatever happens.

On the way out (normal end, exception, Ctrl-C, SIGTERM/SIGHUP or the overall time limit) every
measured command still running is killed with its process group, the stores are stopped and the
scratch folder is removed (``--keep`` keeps it).
"""

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType, TracebackType

from bench import dataset, procs, restic
from bench.stores import DevStore, start_stores, stop_stores


class BenchTimeoutError(Exception):
    """The whole run went past ``--total-timeout``."""


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def add_common_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--size", default="1G", help="dataset size: 200M for a quick run, 1G for the figures (default)")
    ap.add_argument("--seed", type=int, default=1, help="dataset seed (default 1)")
    ap.add_argument("--timeout", type=float, default=300, help="limit per measured command, seconds (default 300)")
    ap.add_argument("--total-timeout", type=float, default=3600, help="limit for the whole run, seconds (default 3600)")
    ap.add_argument(
        "--keep", action="store_true", help="keep the scratch folder (stores, restores) under bench/out/runs"
    )
    ap.add_argument("--markdown", type=Path, help="where to write the markdown table (default bench/out/<bench>.md)")
    ap.add_argument(
        "--engine-src",
        type=Path,
        help="run `embassy` from this checkout (put first on PYTHONPATH), e.g. another worktree; default: installed",
    )
    ap.add_argument("--strict", action="store_true", help="exit 1 unless every goal passes")


def prune_abandoned_runs() -> None:
    """Scratch folders of runs that died without cleaning up (SIGKILL): their pid is gone."""
    for folder in (dataset.OUT / "runs").glob("*-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or (folder / "KEPT").exists():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


class Session:
    def __init__(self, name: str, total_timeout: float, keep: bool = False, needs_restic: bool = True) -> None:
        self.name = name
        self.needs_restic = needs_restic
        self.total_timeout = total_timeout
        self.keep = keep
        self.run_dir = dataset.OUT / "runs" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.stores: list[DevStore] = []
        self._old: dict[int, object] = {}

    def __enter__(self) -> "Session":
        if self.needs_restic and not restic.available():
            raise SystemExit("bench: restic is not installed (make bench-deps installs it)")
        prune_abandoned_runs()
        self.run_dir.mkdir(parents=True)

        def interrupted(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        def too_long(signum: int, frame: FrameType | None) -> None:
            raise BenchTimeoutError(f"the run went past --total-timeout {self.total_timeout:.0f} s")

        handlers = {signal.SIGINT: interrupted, signal.SIGTERM: interrupted, signal.SIGHUP: interrupted}
        handlers[signal.SIGALRM] = too_long
        for sig, handler in handlers.items():
            self._old[sig] = signal.signal(sig, handler)
        signal.alarm(max(1, int(self.total_timeout)))
        return self

    def start_stores(self, names: list[str]) -> list[DevStore]:
        log(f"starting {len(names)} SeaweedFS stores on loopback: {', '.join(names)}")
        stores = start_stores(names, self.run_dir / "stores", start_port=30000 + (os.getpid() % 40) * 300)
        self.stores += stores
        return stores

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        signal.alarm(0)
        procs.kill_all_live()
        try:
            stop_stores(self.stores)
        finally:
            for sig, old in self._old.items():
                signal.signal(sig, old)  # type: ignore[arg-type]
            if self.keep:
                (self.run_dir / "KEPT").touch()
                log(f"kept {self.run_dir}")
            else:
                shutil.rmtree(self.run_dir, ignore_errors=True)


def prepare_dataset(size: str, seed: int, work: Path) -> tuple[dataset.Dataset, dataset.Dataset]:
    """(the cached pristine dataset, a working copy in ``work``) with the page cache warm for both tools."""
    started = time.monotonic()
    ds = dataset.generate(dataset.parse_size(size), seed)
    how = "generated" if time.monotonic() - started > 5 else "from the cache"
    log(f"{how}: {dataset.describe(ds)}")
    wc = dataset.working_copy(ds, work)
    dataset.tree_hashes(wc.root)  # read it all once: both tools then read from a warm page cache
    return ds, wc


def engine_version(src: Path | None) -> str:
    """Which engine is measured: the checkout's branch and commit (and whether it has changes)."""
    import subprocess

    folder = src or Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "describe", "--always", "--dirty", "--all", "--long"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = "unknown commit"
    return f"{folder} ({head})"
