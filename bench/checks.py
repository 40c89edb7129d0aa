"""Was a restore exact? Compare a restored tree with the source's hashes."""

from pathlib import Path

from bench import sqlitedb
from bench.dataset import DB_REL, tree_hashes


def compare_tree(target: Path, expected: dict[str, tuple[int, str]], source_root: Path) -> tuple[bool, str]:
    """(all equal, a one-line account). The database, when its bytes differ, is compared by content
    (schema and every row): a consistent copy through SQLite's backup API may renumber nothing but
    still differ in header bytes, and that is a correct restore."""
    if not target.is_dir():
        return False, f"nothing restored at {target}"
    got = tree_hashes(target)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    differ = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    db = DB_REL.as_posix()
    db_note = ""
    if db in differ:
        same = sqlitedb.content_digest(target / db) == sqlitedb.content_digest(source_root / db)
        if same:
            differ.remove(db)
            db_note = "; the database has the same content (schema and rows), not the same bytes"
    if not (missing or extra or differ):
        return True, f"identical: {len(expected)} files{db_note or ', database byte-identical'}"
    parts = []
    for label, items in (("missing", missing), ("extra", extra), ("different", differ)):
        if items:
            parts.append(f"{len(items)} {label} (e.g. {items[0]})")
    return False, "DIFFERS: " + ", ".join(parts) + db_note
