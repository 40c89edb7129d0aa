"""The deterministic ~1 % change between the first and the incremental backup.

- the SQLite database: people inserted (with documents, events, payments) and rows of persons,
  documents and payments updated at random ids over the whole table, in one transaction; the
  indexes then change at random places too, so ~11 % of the pages change, spread over the file
  (~24 MiB of 4 KiB pages in the 212 MiB database, as NOTES.md describes a day of registry work);
- 20 record files edited: ~1 % of their rows rewritten in place and a few rows appended;
- 1 MiB of new random bytes written over the middle of one large binary file.

Files are unlinked before they are edited (the working copy hard-links the cached dataset).

    python -m bench.mutate DIR [--seed 1] [--before PRISTINE.sqlite]   mutate a working copy
"""

import argparse
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import records, sqlitedb
from bench.dataset import DB_REL, FILES_DIR, MiB, format_size

# Per person in the database, at any size: calibrated to ~24 MiB of changed pages at 212 MiB.
UPDATES_PER_PERSON = 0.0029
INSERTS_PER_PERSON = 0.0011
EDITED_FILES = 20


@dataclass(frozen=True, slots=True)
class Mutation:
    db: sqlitedb.PageDiff | None
    db_rows: dict[str, int]
    edited_files: tuple[str, ...]
    blob: str
    blob_offset: int
    blob_bytes: int
    seconds: float

    def describe(self) -> str:
        lines = []
        if self.db is not None:
            d = self.db
            thirds = [sum(1 for p in d.changed_positions if p * 3 // max(1, d.pages_after) == t) for t in range(3)]
            lines.append(
                f"  sqlite: {self.db_rows['inserted_rows']:,} rows inserted, {self.db_rows['updated_rows']:,} updated; "
                f"{d.changed:,} of {d.pages_before:,} pages changed + {d.added:,} added = "
                f"{format_size(d.changed_bytes)} of {format_size(d.pages_after * d.page_size)} "
                f"(by thirds of the file: {thirds[0]:,} / {thirds[1]:,} / {thirds[2]:,})"
            )
        lines.append(f"  records: {len(self.edited_files)} files edited (rows rewritten in place and appended)")
        lines.append(
            f"  binary: {format_size(self.blob_bytes)} overwritten at offset {self.blob_offset:,} of {self.blob}"
        )
        return f"1 % change applied in {self.seconds:.1f} s\n" + "\n".join(lines)


def unshare(path: Path) -> None:
    """Give ``path`` its own inode if it is hard-linked, so editing it leaves the other links alone."""
    if path.stat().st_nlink > 1:
        tmp = path.with_name(path.name + ".unshare")
        shutil.copy2(path, tmp)
        os.replace(tmp, path)


def edit_record_file(path: Path, rng: random.Random) -> None:
    kind = path.parent.parent.name
    lines = path.read_bytes().split(b"\n")
    is_csv = kind in records.CSV_ROWS
    # Body lines: CSV skips the header; JSON skips "[" and the "]" line (records one per line).
    body = range(1, len(lines) - 1) if is_csv else range(1, len(lines) - 2)
    n_new = 10_000_000 + rng.randrange(10**6)

    def make(n: int) -> bytes:
        if is_csv:
            return records.CSV_ROWS[kind](rng, n).rstrip("\n").encode()
        return json.dumps(records.JSON_RECORDS[kind](rng, n), ensure_ascii=False).encode()

    for i in rng.sample(list(body), max(1, len(body) // 100)) if len(body) else []:
        tail = b"," if lines[i].endswith(b",") else b""
        lines[i] = make(n_new) + tail
        n_new += 1
    appended = [make(n_new + k) for k in range(rng.randrange(3, 12))]
    if is_csv:
        lines[-1:-1] = appended
    else:
        last = len(lines) - 3  # lines end [..., last record (no comma), "]", ""]
        lines[last] = lines[last] + b","
        lines[last + 1 : last + 1] = [a + b"," for a in appended[:-1]] + [appended[-1]]
    tmp = path.with_name(path.name + ".edit")
    tmp.write_bytes(b"\n".join(lines))
    os.replace(tmp, path)


def mutate(root: Path, seed: int = 1, before_db: Path | None = None) -> Mutation:
    """Apply the change to the working copy at ``root``; ``before_db`` (the pristine database) is
    compared page by page with the result when given."""
    started = time.monotonic()
    rng = random.Random(f"mutate:{seed}")
    db = root / DB_REL
    unshare(db)
    persons = sqlitedb.row_counts(db)["persons"]
    db_rows = sqlitedb.apply_change(
        db, rng, max(5, round(persons * UPDATES_PER_PERSON)), max(2, round(persons * INSERTS_PER_PERSON))
    )
    record_files = sorted(p for p in (root / FILES_DIR / "records").rglob("*") if p.is_file())
    edited = rng.sample(record_files, min(EDITED_FILES, len(record_files)))
    for path in edited:
        edit_record_file(path, rng)
    blobs = sorted((root / FILES_DIR / "blobs").glob("*.bin"), key=lambda p: (-p.stat().st_size, p.name))
    blob = blobs[0]
    unshare(blob)
    size = blob.stat().st_size
    length = min(MiB, size)
    offset = (size // 2 - length // 2) // 4096 * 4096 + rng.randrange(4096)
    offset = max(0, min(offset, size - length))
    with blob.open("r+b") as f:
        f.seek(offset)
        f.write(records.random_bytes(f"mutate:{seed}:blob", length))
    diff = sqlitedb.diff_pages(before_db, db) if before_db is not None else None
    return Mutation(
        diff,
        db_rows,
        tuple(p.relative_to(root).as_posix() for p in edited),
        blob.relative_to(root).as_posix(),
        offset,
        length,
        time.monotonic() - started,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.mutate", description="Apply the 1 % change to a dataset copy.")
    ap.add_argument("root", type=Path, help="a working copy made by bench.dataset.working_copy (changed in place)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--before", type=Path, help="the database before the change, to count changed pages")
    args = ap.parse_args(argv)
    print(mutate(args.root, args.seed, args.before).describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
