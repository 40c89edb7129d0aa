"""The registry database: a SQLite file with several tables and secondary indexes.

Indexes exist before the rows go in, so their B-trees fill in random key order and have the
part-full pages of a database that grew over years (not the packed pages of a fresh CREATE INDEX).
That is what makes an in-place update touch pages all over the file.
"""

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import blake3

from bench import names, records

SCHEMA = """
CREATE TABLE persons (
    id INTEGER PRIMARY KEY, national_id TEXT NOT NULL UNIQUE, surname TEXT NOT NULL, given_name TEXT NOT NULL,
    patronymic TEXT, name_cyr TEXT, birth_date TEXT NOT NULL, birth_place TEXT, gender TEXT, address TEXT,
    phone TEXT, status TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX persons_name ON persons(surname, given_name);
CREATE INDEX persons_birth ON persons(birth_date);
CREATE INDEX persons_updated ON persons(updated_at);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES persons(id), kind TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE, issued TEXT NOT NULL, expires TEXT, authority TEXT);
CREATE INDEX documents_person ON documents(person_id);
CREATE INDEX documents_expires ON documents(expires);
CREATE TABLE civil_events (
    id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES persons(id), kind TEXT NOT NULL,
    date TEXT NOT NULL, place TEXT, record_no TEXT, note TEXT);
CREATE INDEX events_person ON civil_events(person_id, date);
CREATE TABLE payments (
    id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES persons(id), date TEXT NOT NULL,
    amount_tiyn INTEGER NOT NULL, purpose TEXT, account TEXT);
CREATE INDEX payments_person ON payments(person_id);
CREATE INDEX payments_date ON payments(date);
"""
TABLES = ("persons", "documents", "civil_events", "payments")
PAGE_SIZE = 4096


@dataclass
class Counters:
    """The next id of each table, so inserts after generation (the mutation) continue the sequence."""

    person: int = 1
    document: int = 1
    event: int = 1
    payment: int = 1


Rows = dict[str, list[tuple[object, ...]]]


def person_rows(rng: random.Random, c: Counters) -> Rows:
    p = records.person(rng)
    pid = c.person
    c.person += 1
    out: Rows = {
        "persons": [
            (
                pid,
                *(
                    p[k]
                    for k in (
                        "national_id",
                        "surname",
                        "given_name",
                        "patronymic",
                        "name_cyr",
                        "birth_date",
                        "birth_place",
                        "gender",
                        "address",
                        "phone",
                        "status",
                        "updated_at",
                    )
                ),
            )
        ],
        "documents": [],
        "civil_events": [],
        "payments": [],
    }
    for _ in range(rng.randrange(1, 3)):
        issued = records.date(rng, 2005, 2024)
        expires = f"{int(issued[:4]) + 10}{issued[4:]}"
        out["documents"].append(
            (
                c.document,
                pid,
                rng.choice(names.DOC_KINDS),
                f"N{rng.randrange(10**10):010d}",
                issued,
                expires,
                rng.choice(names.AUTHORITIES),
            )
        )
        c.document += 1
    for _ in range(rng.randrange(0, 4)):
        out["civil_events"].append(
            (
                c.event,
                pid,
                rng.choice(names.EVENT_KINDS),
                records.date(rng),
                rng.choice(names.CITIES),
                f"AZ-{rng.randrange(10**8):08d}",
                rng.choice(("", "", "", "record restored from archive", "amended")),
            )
        )
        c.event += 1
    for _ in range(rng.randrange(0, 6)):
        out["payments"].append(
            (
                c.payment,
                pid,
                records.date(rng, 2018, 2024),
                rng.randrange(10**8),
                rng.choice(names.PURPOSES),
                records.iban(rng),
            )
        )
        c.payment += 1
    return out


def insert(con: sqlite3.Connection, batch: Rows) -> None:
    for table, rows in batch.items():
        if rows:
            marks = ",".join("?" * len(rows[0]))
            # OR IGNORE: a random national id or document number may repeat; deterministic either way.
            con.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)  # noqa: S608 - fixed names


def batches(rng: random.Random, c: Counters, persons: int, size: int = 5000) -> Iterator[Rows]:
    done = 0
    while done < persons:
        batch: Rows = {t: [] for t in TABLES}
        for _ in range(min(size, persons - done)):
            for table, rows in person_rows(rng, c).items():
                batch[table].extend(rows)
        done += min(size, persons - done)
        yield batch


def create(path: Path, seed: str, target_bytes: int) -> int:
    """Write the database at ``path``; returns its size. A single file (rollback journal, no WAL)."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute(f"PRAGMA page_size={PAGE_SIZE}")
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-262144")  # 256 MiB while building: random index inserts
        con.executescript(SCHEMA)
        c = Counters()
        # Grow batch by batch until the file reaches the target: page_count is exact and deterministic.
        while con.execute("PRAGMA page_count").fetchone()[0] * PAGE_SIZE < target_bytes:
            con.execute("BEGIN")
            insert(con, next(batches(rng, c, 2000)))
            con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()
    return path.stat().st_size


def counters(con: sqlite3.Connection) -> Counters:
    def top(table: str) -> int:
        return int(con.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0])  # noqa: S608

    return Counters(top("persons"), top("documents"), top("civil_events"), top("payments"))


def page_size(path: Path) -> int:
    with path.open("rb") as f:
        head = f.read(18)
    size = int.from_bytes(head[16:18], "big")
    return 65536 if size == 1 else size


@dataclass(frozen=True, slots=True)
class PageDiff:
    page_size: int
    pages_before: int
    pages_after: int
    changed: int  # pages present in both whose bytes differ
    added: int  # pages past the old end of the file
    changed_positions: tuple[int, ...]  # page numbers (0-based) of changed and added pages

    @property
    def changed_bytes(self) -> int:
        return (self.changed + self.added) * self.page_size


def diff_pages(before: Path, after: Path) -> PageDiff:
    ps = page_size(after)
    positions: list[int] = []
    changed = added = 0
    n_before = before.stat().st_size // ps
    n_after = after.stat().st_size // ps
    with before.open("rb") as a, after.open("rb") as b:
        for i in range(n_after):
            pb = b.read(ps)
            pa = a.read(ps) if i < n_before else b""
            if i >= n_before:
                added += 1
                positions.append(i)
            elif pa != pb:
                changed += 1
                positions.append(i)
    return PageDiff(ps, n_before, n_after, changed, added, tuple(positions))


def content_digest(path: Path) -> str:
    """BLAKE3 of the schema and every row in rowid order: equal for equal content, whatever the pages."""
    h = blake3.blake3()
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for (sql,) in con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"):
            h.update(sql.encode() + b"\0")
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            for row in con.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):  # noqa: S608
                h.update(repr(row).encode() + b"\n")
    finally:
        con.close()
    return h.hexdigest()


def row_counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}  # noqa: S608
    finally:
        con.close()


def index_names(path: Path) -> list[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index' ORDER BY name")]
    finally:
        con.close()


def apply_change(path: Path, rng: random.Random, updates: int, inserts: int) -> dict[str, int]:
    """Insert ``inserts`` people (with their documents, events, payments) and update ``updates`` rows
    of each of persons, documents and payments at random ids spread over the whole table, in one
    transaction, as a day of registry work would. Returns the row counts touched."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        c = counters(con)
        old = Counters(c.person, c.document, c.event, c.payment)
        con.execute("BEGIN")
        added = {t: 0 for t in TABLES}
        for batch in batches(rng, c, inserts):
            insert(con, batch)
            for t, rows in batch.items():
                added[t] += len(rows)
        for _ in range(updates):
            con.execute(
                "UPDATE persons SET address = ?, status = ?, updated_at = ? WHERE id = ?",
                (
                    records.address(rng),
                    rng.choice(names.STATUSES),
                    records.timestamp(rng, 2025, 2025),
                    rng.randrange(1, old.person),
                ),
            )
            con.execute(
                "UPDATE documents SET expires = ?, authority = ? WHERE id = ?",
                (records.date(rng, 2025, 2040), rng.choice(names.AUTHORITIES), rng.randrange(1, old.document)),
            )
            con.execute(
                "UPDATE payments SET amount_tiyn = ? WHERE id = ?",
                (rng.randrange(10**8), rng.randrange(1, old.payment)),
            )
        con.execute("COMMIT")
    finally:
        con.close()
    return {"inserted_rows": sum(added.values()), "updated_rows": 3 * updates}
