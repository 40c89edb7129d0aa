"""The service's databases and the features whose migrations make them.

- ``<data_dir>/mission.db``, the mission database, replicated as the registry ``mission-site``:
  content, staff accounts, the audit log, the contact channels and inbox, in this order;
- ``<data_dir>/sessions.db``: staff sessions and sign-in throttling, never replicated;
- ``<data_dir>/analytics/analytics.db``: page-view counts (embassy/analytics/db.py).

:func:`prepare_all` is what `embassy serve` runs once before it starts any worker.
"""

import sqlite3
from pathlib import Path

from embassy import migrations
from embassy.audit.schema import AUDIT
from embassy.contact.schema import CONTACT
from embassy.content.db import CONTENT, MISSION_DB
from embassy.staff.schema import SESSIONS, SESSIONS_DB, STAFF

MISSION_FEATURES = (CONTENT, STAFF, AUDIT, CONTACT)
SESSION_FEATURES = (SESSIONS,)

__all__ = ["MISSION_DB", "SESSIONS_DB", "connect", "connect_sessions", "prepare_all"]


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the mission database at ``path``."""
    return migrations.connect(path, MISSION_FEATURES, check_same_thread=check_same_thread)


def connect_sessions(data_dir: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    return migrations.connect(data_dir / SESSIONS_DB, SESSION_FEATURES, check_same_thread=check_same_thread)


def prepare_all(data_dir: Path) -> None:
    """Create and migrate every database of the service, then close them (before forking workers)."""
    from embassy.analytics import db as analytics_db

    migrations.prepare(data_dir / MISSION_DB, MISSION_FEATURES)
    migrations.prepare(data_dir / SESSIONS_DB, SESSION_FEATURES)
    analytics_db.connect(data_dir).close()
