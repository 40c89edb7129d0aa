"""The demo mission that `make run` shows: demo state registries, the mission's content, a staff login.

Everything here is deterministic and small; it exists so a newcomer sees real replication of real
files and databases, and a real-looking mission site, within seconds of `make run`.
"""

import csv
import json
import random
import sqlite3
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from embassy.config import Config
from embassy.contact import custody
from embassy.content.model import PAGE
from embassy.content.repo import utc_now
from embassy.content.statements import Signer
from embassy.content.version import ContentVersion, version_path
from embassy.mission_db import MISSION_DB, connect
from embassy.publishing import store
from embassy.publishing.fields import AlertSettings, Draft, PagePlace
from embassy.publishing.rules import Actor
from embassy.publishing.workflow import Workflow
from embassy.staff import accounts
from embassy.staff.passwords import hash_password, new_one_time_password, verify_password
from keys import Keyring
from keys.inbox_keys import InboxKeyPair, new_officer_key, new_recovery_key
from replication.fsutil import atomic_write

DEMO_DIR = Path(__file__).parent / "content" / "demo"
DEMO_STAFF = "ambassador"
DEMO_STAFF_ROLES = ["admin", "publisher"]
DEMO_EDITOR = "aizhan"
_EDITOR = Actor(DEMO_EDITOR, frozenset({"editor"}))
_AMBASSADOR = Actor(DEMO_STAFF, frozenset(DEMO_STAFF_ROLES))
DEMO_LOGIN_FILE = "demo-staff-login"
DEMO_INBOX_SHARES = "demo-inbox-shares"

_FIRST = ["Aigerim", "Dana", "Yerlan", "Marat", "Aliya", "Olga", "Sergey", "Asel", "Nurlan", "Zhanna"]
_LAST = ["Abenova", "Sadykov", "Ivanova", "Tokayev", "Kim", "Petrov", "Nurpeisova", "Bekov", "Smagulov"]


def seed_registries(config: Config) -> Iterator[str]:
    rnd = random.Random(2026)
    for reg in config.registries:
        if reg.path is None or reg.path.exists() or reg.name == "mission-site":
            continue
        if reg.kind == "directory":
            reg.path.mkdir(parents=True)
            for region in ("almaty", "astana", "shymkent"):
                folder = reg.path / region
                folder.mkdir()
                with (folder / "residents.csv").open("w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(["id", "name", "born", "district"])
                    for i in range(500):
                        w.writerow(
                            [
                                f"{region[:2].upper()}{i:06d}",
                                f"{rnd.choice(_FIRST)} {rnd.choice(_LAST)}",
                                f"19{rnd.randint(40, 99)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
                                rnd.randint(1, 12),
                            ]
                        )
                (folder / "summary.json").write_text(
                    json.dumps({"region": region, "residents": 500, "source": "demo"}, indent=1), encoding="utf-8"
                )
            yield f"demo registry {reg.name}: wrote {reg.path}"
        elif reg.kind == "sqlite":
            reg.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(reg.path)
            with db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE parcel (id INTEGER PRIMARY KEY, cadastral_no TEXT UNIQUE, owner TEXT, "
                    "area_m2 REAL, registered TEXT)"
                )
                db.executemany(
                    "INSERT INTO parcel (cadastral_no, owner, area_m2, registered) VALUES (?, ?, ?, ?)",
                    [
                        (
                            f"{rnd.randint(1, 20):02d}-{rnd.randint(100, 999)}-{i:06d}",
                            f"{rnd.choice(_FIRST)} {rnd.choice(_LAST)}",
                            round(rnd.uniform(200, 5000), 1),
                            f"20{rnd.randint(0, 25):02d}-{rnd.randint(1, 12):02d}-01",
                        )
                        for i in range(3000)
                    ],
                )
            db.close()
            yield f"demo registry {reg.name}: wrote {reg.path}"


def seed_content(config: Config, ring: Keyring) -> Iterator[str]:
    """The demo pages and signed news in every configured language the demo has text for, put through
    the editorial workflow as staff would: written by the demo editor, approved and published by the
    demo ambassador (so they appear in the audit log, and every edition is a signed statement)."""
    pages = tomllib.loads((DEMO_DIR / "pages.toml").read_text(encoding="utf-8"))["page"]
    news = tomllib.loads((DEMO_DIR / "news.toml").read_text(encoding="utf-8"))["news"]
    # The demo is written in kk, ru and en; a mission configured with none of them gets English,
    # which its pages then show (with the missing-translation note) rather than nothing.
    langs = [lang for lang in config.mission.languages if lang in pages[0]] or ["en"]
    conn = connect(config.data_dir / MISSION_DB)
    version = ContentVersion(version_path(config.data_dir))
    keys = ring.serving_keys()  # statements are signed with the statement key, never the snapshot key
    signer = Signer(config.mission.name, keys.statement_signing_key(), keys.statement_key_id)
    made = 0
    try:
        _demo_accounts(conn)
        for p in pages:
            if store.item_by_slug(conn, PAGE, p["slug"]) is None:
                place = PagePlace(p["section"], p.get("parent"), p["position"])
                _seed_item(conn, signer, config, PAGE, p, langs, p.get("updated") or utc_now(), place=place)
                made += 1
        for n in news:
            if store.item_by_slug(conn, n["kind"], n["slug"]) is None:
                alert = AlertSettings("warning") if n["kind"] == "alert" else None
                _seed_item(conn, signer, config, n["kind"], n, langs, _days_ago(n["published"]), alert=alert)
                made += 1
        if made:
            version.bump()
            yield f"demo content: {len(pages)} pages and {len(news)} news items in {', '.join(langs)}, written by " \
                  f"{DEMO_EDITOR!r}, approved and published by {DEMO_STAFF!r} (each edition a signed statement)"
        else:
            yield "demo content: already seeded"
    finally:
        conn.close()
        version.close()


def _demo_accounts(conn: sqlite3.Connection) -> None:
    """The demo editor who writes the demo's content (its password is unknown: an admin resets it to use it)."""
    if not accounts.exists(conn, DEMO_EDITOR):
        accounts.create(conn, DEMO_EDITOR, ["editor"], hash_password(new_one_time_password()), actor="demo")


def _seed_item(conn: sqlite3.Connection, signer: Signer, config: Config, kind: str, entry: dict[str, Any],
               langs: list[str], when: str, **settings: Any) -> None:  # fmt: skip
    flow = Workflow(conn, signer, config.mission.languages, clock=lambda: when)
    present = [lang for lang in langs if lang in entry]
    first = present[0]
    slug = entry["slug"]
    for lang in present:
        t = entry[lang]
        draft = Draft(t["title"], t["summary"], t["body"].strip())
        if lang == first:
            item = flow.create(_EDITOR, kind, lang, draft, slug=slug, **settings).id
        else:
            flow.new_edition(_EDITOR, item, lang, draft, source=first)
        flow.submit(_EDITOR, item, lang)
        flow.approve(_AMBASSADOR, item, lang)
        flow.publish(_AMBASSADOR, item, lang)


def _days_ago(when: dict[str, object]) -> str:
    day = datetime.now(UTC).date() - timedelta(days=int(when["days_ago"]))  # type: ignore[call-overload]
    return f"{day.isoformat()}T{when['time']}Z"


def seed_staff(config: Config) -> Iterator[str]:
    """A demo admin account whose one-time password is kept (mode 0600) so `make run` can print it
    until it is used: the first sign-in changes it and enrols a second factor, as for any account.
    (Unlike other one-time passwords, the demo's does not expire.)"""
    login_file = config.data_dir / DEMO_LOGIN_FILE
    conn = connect(config.data_dir / MISSION_DB)
    try:
        if accounts.exists(conn, DEMO_STAFF):
            return
        password = new_one_time_password()
        accounts.create(conn, DEMO_STAFF, DEMO_STAFF_ROLES, hash_password(password), actor="demo", one_time_days=None)
        # Its officer key, under the one-time password: the demo inbox is granted to it at once.
        custody.set_officer_key(conn, DEMO_STAFF, new_officer_key(password)[0], actor="demo")
        atomic_write(login_file, f"{DEMO_STAFF}\n{password}\n".encode(), mode=0o600)
        yield f"demo staff account {DEMO_STAFF!r} (admin, publisher) created; its login is kept in {login_file} (demo only)"
    finally:
        conn.close()


def demo_login(config: Config) -> tuple[str, str] | None:
    """The demo staff login written by :func:`seed_staff`, while its one-time password is unused:
    (name, password), or (name, "") once the first sign-in has set the account's own password."""
    try:
        name, password = (config.data_dir / DEMO_LOGIN_FILE).read_text(encoding="utf-8").split()[:2]
    except (OSError, ValueError):
        return None
    conn = connect(config.data_dir / MISSION_DB)
    try:
        account = accounts.find(conn, name)
    finally:
        conn.close()
    if account is None:
        return None
    if account.one_time and verify_password(account.password_hash, password):
        return name, password
    return name, ""


def seed_inbox(config: Config) -> Iterator[str]:
    """The demo's inbox key, its recovery key split 2 of 3 into share files kept under the data dir
    (demo only: a real mission hands them to custodians, `embassy inbox init`)."""
    conn = connect(config.data_dir / MISSION_DB)
    try:
        if custody.current_key(conn) is not None:
            return
        pair = InboxKeyPair.generate()
        split = new_recovery_key(2, 3, config.mission.name)
        folder = config.data_dir / DEMO_INBOX_SHARES
        folder.mkdir(mode=0o700, exist_ok=True)
        for number, share in enumerate(split.shares, start=1):
            atomic_write(folder / f"inbox-share-{number}-of-3.txt", share.text.encode(), mode=0o600)
        granted = custody.init(conn, pair, split, 2, actor="demo")
        yield (
            f"demo inbox key {pair.id}: open to {', '.join(granted) or 'nobody yet'}; its recovery shares are in "
            f"{folder} (demo only)"
        )
    finally:
        conn.close()


def seed_demo(config: Config, ring: Keyring) -> Iterator[str]:
    """Seed what is missing; what exists is left alone, so running it again changes nothing."""
    yield from seed_registries(config)
    yield from seed_staff(config)
    yield from seed_content(config, ring)
    yield from seed_inbox(config)
