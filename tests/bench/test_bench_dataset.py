"""The benchmark's dataset generator and its 1 % change: deterministic, realistic, and reaching
all over the database (small sizes, so this stays fast)."""

import json
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: bench/ is not installed

from bench import dataset, mutate, sqlitedb
from bench.dataset import KiB, MiB

SMALL = 16 * MiB


def content_hashes(ds: dataset.Dataset) -> dict[str, tuple[int, str]]:
    hashes = dataset.tree_hashes(ds.root)
    hashes.pop("dataset.json", None)  # carries the generation time
    return hashes


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dataset.Dataset:
    return dataset.generate(SMALL, seed=7, out=tmp_path_factory.mktemp("cache"), workers=2)


def test_same_seed_same_bytes_other_seed_other_bytes(small: dataset.Dataset, tmp_path: Path) -> None:
    again = dataset.generate(SMALL, seed=7, out=tmp_path / "a", workers=2)
    other = dataset.generate(SMALL, seed=8, out=tmp_path / "b", workers=2)
    assert content_hashes(again) == content_hashes(small)
    assert set(content_hashes(other).values()).isdisjoint(content_hashes(small).values())


def test_cache_is_reused(small: dataset.Dataset) -> None:
    stamp = (small.root / "dataset.json").stat().st_mtime_ns
    again = dataset.generate(SMALL, seed=7, out=small.root.parent)
    assert again.root == small.root
    assert (small.root / "dataset.json").stat().st_mtime_ns == stamp


def test_composition(small: dataset.Dataset) -> None:
    records = sorted((small.files_dir / "records").rglob("*.*"))
    assert len(records) == round(dataset.RECORDS_PER_GIB * SMALL / dataset.GiB)
    sizes = [p.stat().st_size for p in records]
    assert min(sizes) >= 4 * KiB and max(sizes) <= MiB + 64 * KiB
    for p in records:
        if p.suffix == ".json":
            assert isinstance(json.loads(p.read_text()), list)
        else:
            assert p.read_text().splitlines()[0] in {h.strip() for h in dataset.records.CSV_HEADERS.values()}
    assert list((small.files_dir / "blobs").glob("*.bin"))
    assert len(sqlitedb.index_names(small.db_path)) >= 9
    assert all(n > 0 for n in sqlitedb.row_counts(small.db_path).values())
    assert abs(small.total_bytes - SMALL) < 0.25 * SMALL
    assert not small.db_path.is_relative_to(small.files_dir)  # the two registries do not overlap


def test_mutation_reaches_all_over_and_leaves_the_cache_alone(small: dataset.Dataset, tmp_path: Path) -> None:
    pristine = content_hashes(small)
    work = dataset.working_copy(small, tmp_path / "w")
    change = mutate.mutate(work.root, seed=1, before_db=small.db_path)

    assert content_hashes(small) == pristine  # hard links were broken before editing
    after = dataset.tree_hashes(work.root)
    changed = {k for k in pristine if after.get(k) != pristine[k]}
    edited = {k for k in changed if k.startswith("files/records/")}
    assert edited == set(change.edited_files) and len(edited) == mutate.EDITED_FILES
    assert {k for k in changed if k.startswith("files/blobs/")} == {change.blob}
    assert dataset.DB_REL.as_posix() in changed

    # exactly 1 MiB of the binary file differs, at the reported offset
    a = (small.root / change.blob).read_bytes()
    b = (work.root / change.blob).read_bytes()
    differ = [i for i in range(0, len(a), 4096) if a[i : i + 4096] != b[i : i + 4096]]
    assert len(a) == len(b)
    assert differ[0] <= change.blob_offset and differ[-1] + 4096 >= change.blob_offset + MiB - 1

    # database: a few % of pages, spread over every third of the file; the file is still sound
    d = change.db
    assert d is not None
    assert 0.03 < (d.changed + d.added) / d.pages_after < 0.3
    thirds = [sum(1 for p in d.changed_positions if p * 3 // d.pages_after == t) for t in range(3)]
    assert min(thirds) > 0.15 * sum(thirds)
    con = sqlite3.connect(work.db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    for rel in edited:
        if rel.endswith(".json"):
            json.loads((work.root / rel).read_text())


def test_mutation_is_deterministic(small: dataset.Dataset, tmp_path: Path) -> None:
    one = dataset.working_copy(small, tmp_path / "one")
    two = dataset.working_copy(small, tmp_path / "two")
    mutate.mutate(one.root, seed=1)
    mutate.mutate(two.root, seed=1)
    assert dataset.tree_hashes(one.root) == dataset.tree_hashes(two.root)
