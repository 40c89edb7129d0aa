"""Staff accounts in the mission database: Argon2id password hashes, never the passwords."""

import re
import secrets
import sqlite3
from datetime import UTC, datetime

from argon2 import PasswordHasher

ROLES = ("admin", "editor", "publisher", "consular")
NAME_RE = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")


class StaffError(Exception):
    """A staff account could not be created or changed."""


def new_password() -> str:
    """A one-time password of about 120 bits that is easy to type: five groups of five letters and digits."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(5))


def create_account(conn: sqlite3.Connection, name: str, role: str, password: str) -> None:
    if not NAME_RE.match(name):
        raise StaffError(f"{name!r} is not a staff name; use 2-32 of a-z, 0-9, '.', '_', '-' starting with a letter")
    if role not in ROLES:
        raise StaffError(f"{role!r} is not a role; use one of {', '.join(ROLES)}")
    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    try:
        conn.execute(
            "INSERT INTO staff (name, role, password_hash, created) VALUES (?, ?, ?, ?)",
            (name, role, PasswordHasher().hash(password), created),
        )
    except sqlite3.IntegrityError as e:
        raise StaffError(f"a staff account named {name!r} already exists") from e


def account_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM staff WHERE name = ?", (name,)).fetchone() is not None
