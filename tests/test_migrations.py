"""Per-feature migrations of the mission database: fresh files, files from before, newer files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from embassy.content.db import MIGRATIONS as CONTENT_STEPS
from embassy.migrations import Feature, MigrationError, connect, versions
from embassy.mission_db import MISSION_FEATURES
from embassy.mission_db import connect as connect_mission
from embassy.staff import accounts


def test_a_fresh_database_gets_every_feature(tmp_path: Path) -> None:
    conn = connect_mission(tmp_path / "mission.db")
    assert versions(conn) == {"content": len(CONTENT_STEPS), "staff": 1, "audit": 1, "contact": 1}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_database_from_before_keeps_its_content_and_staff(tmp_path: Path) -> None:
    """A mission.db written by the single-list schema (user_version 2), with the old one-role staff table."""
    path = tmp_path / "mission.db"
    old = sqlite3.connect(path, isolation_level=None)
    for step in CONTENT_STEPS[:2]:  # the schema of then
        old.executescript(step)
    old.execute("PRAGMA user_version = 2")
    old.execute(
        "INSERT INTO staff (name, role, password_hash, created) VALUES ('ambassador', 'admin', 'h', '2026-11-27T08:00:00Z')"
    )
    old.execute("INSERT INTO page (slug, section) VALUES ('home', 'home')")
    old.execute("INSERT INTO page_text VALUES ('home', 'en', 'Home', '', '<p>Hi</p>', '2026-11-27T08:00:00Z')")
    old.close()
    conn = connect_mission(path)
    assert versions(conn) == {"content": len(CONTENT_STEPS), "staff": 1, "audit": 1, "contact": 1}
    a = accounts.get(conn, "ambassador")
    assert (a.roles, a.one_time, a.password_expires, len(a.webauthn_user_id)) == (("admin",), True, None, 32)
    assert conn.execute("SELECT i.slug, e.state FROM item i JOIN edition e ON e.item = i.id").fetchall() == [
        ("home", "published")]  # the old page is an item now, its text a published edition
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'staff'").fetchone() is None
    conn.close()
    # an old program now refuses the file instead of misreading it
    (user_version,) = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()
    assert user_version > 2


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mission.db"
    connect_mission(path).close()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("UPDATE schema_version SET version = 9 WHERE feature = 'staff'")
    raw.execute("INSERT INTO schema_version (feature, version) VALUES ('inbox', 1)")
    raw.close()
    with pytest.raises(MigrationError, match="staff schema is at version 9, newer than this program's 1"):
        connect_mission(path)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("UPDATE schema_version SET version = 1 WHERE feature = 'staff'")
    raw.close()
    with pytest.raises(MigrationError, match="'inbox' schema this program does not know"):
        connect_mission(path)


def test_a_new_step_runs_once_and_a_failing_one_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    one = Feature("demo", ("CREATE TABLE a (x INTEGER);",))
    connect(path, [one]).close()
    two = Feature("demo", (*one.steps, "INSERT INTO a VALUES (1);"))
    connect(path, [two]).close()
    connect(path, [two]).close()
    broken = Feature("demo", (*two.steps, "INSERT INTO a VALUES (2); INSERT INTO nowhere VALUES (3);"))
    with pytest.raises(sqlite3.OperationalError):
        connect(path, [broken])
    conn = connect(path, [two])
    assert conn.execute("SELECT x FROM a").fetchall() == [(1,)] and versions(conn) == {"demo": 2}
    conn.close()
    assert [f.name for f in MISSION_FEATURES] == ["content", "staff", "audit", "contact"]
