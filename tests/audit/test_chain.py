"""The audit chain itself: each kind of tampering is found at the entry where it happened."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from embassy.audit.chain import GENESIS, entry_hash, verify_chain
from embassy.audit.log import all_entries, head, record
from embassy.mission_db import connect


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    conn = connect(tmp_path / "mission.db")
    for i in range(5):
        record(conn, f"staff{i}", "sign_in.success", {"method": "totp", "address": f"192.0.2.{i}"})
    return conn


def test_a_clean_chain_verifies_to_its_head(db: sqlite3.Connection) -> None:
    count, last, broken = verify_chain(all_entries(db))
    assert (count, last, broken) == (5, head(db)[1], None)
    first = next(all_entries(db))
    assert first.prev_hash == GENESIS
    assert first.hash == entry_hash(1, first.time, "staff0", "sign_in.success", first.detail, GENESIS)


def test_an_edited_entry_is_named(db: sqlite3.Connection) -> None:
    db.execute("""UPDATE audit_log SET detail = '{"address":"192.0.2.99","method":"totp"}' WHERE seq = 3""")
    count, _, broken = verify_chain(all_entries(db))
    assert count == 2 and broken is not None and broken.seq == 3 and "edited" in broken.reason


def test_a_deleted_entry_is_named(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit_log WHERE seq = 2")
    _, _, broken = verify_chain(all_entries(db))
    assert broken is not None and broken.seq == 3 and "entry 2 is missing" in broken.reason


def test_a_renumbered_chain_is_caught_by_its_links(db: sqlite3.Connection) -> None:
    entries = list(all_entries(db))
    del entries[1]
    renumbered = [dataclasses.replace(e, seq=i + 1) for i, e in enumerate(entries)]
    _, _, broken = verify_chain(renumbered)
    assert broken is not None and broken.seq == 2 and "previous hash differs" in broken.reason


def test_a_cut_tail_leaves_a_valid_chain(db: sqlite3.Connection) -> None:
    """Why the snapshot abroad is needed: a chain alone cannot tell that it was longer."""
    db.execute("DELETE FROM audit_log WHERE seq >= 4")
    assert verify_chain(all_entries(db))[1:] == (head(db)[1], None)
