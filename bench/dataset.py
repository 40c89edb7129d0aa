"""The benchmark dataset: ~1 GiB of registry-like data, deterministic for a (size, seed), cached.

Layout of a dataset folder (both tools back up the same bytes):

    files/records/<kind>/<year>/<kind>-NNNNN.csv|json   the `directory` registry (files/)
    files/blobs/archive-NN.bin                          ... with the large binary files
    db/registry.sqlite                                  the `sqlite` registry (outside files/)

restic backs up the whole folder; the engine gets ``files/`` as a directory registry and
``db/registry.sqlite`` as a sqlite registry. At 1 GiB: ~2,000 record files of 4 KiB-1 MiB
(log-uniform, ~360 MiB), a ~212 MiB SQLite database with 9 secondary indexes, and ~6 binary files of
50-100 MiB for the rest. ``--size`` scales the counts (the record files keep their size range).

    python -m bench.dataset --size 1G [--seed 1]    generate (or find in the cache) and describe
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from bench import records, sqlitedb

GENERATOR_VERSION = 1
OUT = Path(__file__).resolve().parent / "out"
KiB, MiB, GiB = 1024, 1024**2, 1024**3
RECORDS_PER_GIB = 2000
DB_PER_GIB = 212 * MiB
BLOB_TARGET = 75 * MiB  # binary files are 50-100 MiB at full size
FILES_DIR, DB_REL = "files", Path("db") / "registry.sqlite"


def parse_size(text: str) -> int:
    """'200M', '1G', '1.5GiB', '3g', '512MiB', or plain bytes."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 200M, 1G, 3G)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))


def format_size(n: float) -> str:
    for unit, div in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}" if abs(n) < 100 * div else f"{n / div:.0f} {unit}"
    return f"{n:.0f} B"


@dataclass(frozen=True, slots=True)
class FileJob:
    rel: str
    kind: str  # a record kind, or "blob"
    size: int
    seed: str


@dataclass(frozen=True, slots=True)
class Plan:
    size: int
    seed: int
    records: tuple[FileJob, ...]
    blobs: tuple[FileJob, ...]
    db_bytes: int

    @property
    def key(self) -> str:
        return f"ds-{self.size // MiB}M-s{self.seed}-v{GENERATOR_VERSION}"


def plan(size: int, seed: int = 1) -> Plan:
    scale = size / GiB
    rng = random.Random(f"plan:{seed}:{size}")
    n_records = max(8, round(RECORDS_PER_GIB * scale))
    recs = []
    for i in range(n_records):
        kind = records.RECORD_KINDS[i % len(records.RECORD_KINDS)]
        fsize = int(math.exp(rng.uniform(math.log(4 * KiB), math.log(MiB))))
        year = 2015 + rng.randrange(10)
        rel = f"{FILES_DIR}/records/{kind}/{year}/{kind}-{i:05d}{records.record_suffix(kind)}"
        recs.append(FileJob(rel, kind, fsize, f"{seed}:record:{i}"))
    db_bytes = max(MiB, int(DB_PER_GIB * scale))
    budget = max(MiB, size - sum(r.size for r in recs) - db_bytes)
    n_blobs = max(1, round(budget / BLOB_TARGET))
    blobs: list[FileJob] = []
    for i in range(n_blobs):
        share = budget / n_blobs * rng.uniform(0.75, 1.25) if i < n_blobs - 1 else budget - sum(b.size for b in blobs)
        blobs.append(
            FileJob(f"{FILES_DIR}/blobs/archive-{i:02d}.bin", "blob", max(MiB, int(share)), f"{seed}:blob:{i}")
        )
    return Plan(size, seed, tuple(recs), tuple(blobs), db_bytes)


def _write_records(root: Path, jobs: list[FileJob]) -> int:
    return sum(records.write_record_file(root / j.rel, j.kind, j.seed, j.size) for j in jobs)


def _write_blob(root: Path, job: FileJob) -> int:
    return records.write_binary_file(root / job.rel, job.seed, job.size)


def _write_db(root: Path, seed: int, db_bytes: int) -> int:
    return sqlitedb.create(root / DB_REL, f"{seed}:db", db_bytes)


# A fixed mtime for every generated file: the dataset's metadata is as deterministic as its bytes.
FIXED_MTIME = 1_700_000_000


@dataclass(frozen=True, slots=True)
class Dataset:
    root: Path
    info: dict[str, Any]

    @property
    def files_dir(self) -> Path:
        return self.root / FILES_DIR

    @property
    def db_path(self) -> Path:
        return self.root / DB_REL

    @property
    def total_bytes(self) -> int:
        return int(self.info["total_bytes"])


def generate(size: int, seed: int = 1, out: Path = OUT / "datasets", workers: int | None = None) -> Dataset:
    """The dataset for (size, seed): from the cache when there, else written by ``workers`` processes."""
    p = plan(size, seed)
    final = out / p.key
    if (final / "dataset.json").is_file():
        return Dataset(final, json.loads((final / "dataset.json").read_text()))
    tmp = out / f"{p.key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.monotonic()
    workers = workers or min(4, os.cpu_count() or 2)
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # The database is the longest single job: start it first.
            db: Future[int] = pool.submit(_write_db, tmp, seed, p.db_bytes)
            blobs = [pool.submit(_write_blob, tmp, b) for b in p.blobs]
            step = 50
            recs = [
                pool.submit(_write_records, tmp, list(p.records[i : i + step])) for i in range(0, len(p.records), step)
            ]
            rec_bytes = sum(f.result() for f in recs)
            blob_bytes = sum(f.result() for f in blobs)
            db_bytes = db.result()
        for path in tmp.rglob("*"):
            if path.is_file():
                os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        info = {
            "key": p.key,
            "size_requested": size,
            "seed": seed,
            "generator_version": GENERATOR_VERSION,
            "records": {"files": len(p.records), "bytes": rec_bytes},
            "blobs": {"files": len(p.blobs), "bytes": blob_bytes, "sizes": [b.size for b in p.blobs]},
            "db": {
                "bytes": db_bytes,
                "rows": sqlitedb.row_counts(tmp / DB_REL),
                "indexes": len(sqlitedb.index_names(tmp / DB_REL)),
            },
            "total_bytes": rec_bytes + blob_bytes + db_bytes,
            "total_files": len(p.records) + len(p.blobs) + 1,
            "generation_seconds": round(time.monotonic() - started, 1),
        }
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2))
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Dataset(final, info)


def working_copy(ds: Dataset, dest: Path) -> Dataset:
    """A copy to back up and mutate: record and binary files hard-linked (fast, no disk), the
    database copied (SQLite writes it in place). ``bench.mutate`` unlinks before it edits a file, so
    the cached dataset is never changed."""
    if dest.exists():
        shutil.rmtree(dest)
    for src in sorted(ds.files_dir.rglob("*")):
        target = dest / src.relative_to(ds.root)
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, target)
        except OSError:
            shutil.copy2(src, target)
    (dest / DB_REL).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ds.db_path, dest / DB_REL)
    return Dataset(dest, ds.info)


def tree_hashes(root: Path) -> dict[str, tuple[int, str]]:
    """Relative path -> (size, BLAKE3) of every regular file under ``root``."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            h = blake3.blake3()
            with path.open("rb") as f:
                while chunk := f.read(4 * MiB):
                    h.update(chunk)
            out[path.relative_to(root).as_posix()] = (path.stat().st_size, h.hexdigest())
    return out


def describe(ds: Dataset) -> str:
    i = ds.info
    rows = ", ".join(f"{k} {v:,}" for k, v in i["db"]["rows"].items())
    return (
        f"dataset {i['key']} at {ds.root}\n"
        f"  total {format_size(i['total_bytes'])} in {i['total_files']} files (generated in {i['generation_seconds']} s)\n"
        f"  records: {i['records']['files']} CSV/JSON files, {format_size(i['records']['bytes'])} (4 KiB-1 MiB each)\n"
        f"  binary:  {i['blobs']['files']} files, {format_size(i['blobs']['bytes'])} "
        f"({', '.join(format_size(s) for s in i['blobs']['sizes'])}), half random, half repetitive\n"
        f"  sqlite:  {format_size(i['db']['bytes'])}, {i['db']['indexes']} indexes; rows: {rows}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dataset", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1G", help="total size, e.g. 200M, 1G, 3G (default 1G)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    ds = generate(parse_size(args.size), args.seed)
    print(describe(ds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
