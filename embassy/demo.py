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

from embassy.config import Config
from embassy.contact import custody
from embassy.content.repo import ContentRepo, Signer, TextInput
from embassy.content.version import ContentVersion, version_path
from embassy.mission_db import MISSION_DB, connect
from embassy.staff import accounts
from embassy.staff.passwords import hash_password, new_one_time_password, verify_password
from keys import Keyring
from keys.inbox_keys import InboxKeyPair, new_officer_key, new_recovery_key
from replication.fsutil import atomic_write

DEMO_DIR = Path(__file__).parent / "content" / "demo"
DEMO_STAFF = "ambassador"
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
    """The demo pages and signed news in every configured language the demo has text for."""
    pages = tomllib.loads((DEMO_DIR / "pages.toml").read_text(encoding="utf-8"))["page"]
    news = tomllib.loads((DEMO_DIR / "news.toml").read_text(encoding="utf-8"))["news"]
    # The demo is written in kk, ru and en; a mission configured with none of them gets English,
    # which its pages then show (with the missing-translation note) rather than nothing.
    langs = [lang for lang in config.mission.languages if lang in pages[0]] or ["en"]
    conn = connect(config.data_dir / MISSION_DB)
    version = ContentVersion(version_path(config.data_dir))
    changed = False

    def mark() -> None:
        nonlocal changed
        changed = True

    try:
        repo = ContentRepo(conn, on_change=mark)
        for p in pages:
            if not repo.has_page(p["slug"]):
                repo.put_page(p["slug"], p["section"], p["position"], p.get("parent"))
            for lang in langs:
                if lang in p and not repo.has_page_text(p["slug"], lang):
                    t = p[lang]
                    repo.put_page_text(
                        p["slug"], lang, TextInput(t["title"], t["summary"], t["body"]), p.get("updated")
                    )
        keys = ring.serving_keys()  # statements are signed with the statement key, never the snapshot key
        signer = Signer(config.mission.name, keys.statement_signing_key(), keys.statement_key_id)
        for n in news:
            if repo.has_news(n["slug"]):
                continue
            texts = {
                lang: TextInput(n[lang]["title"], n[lang]["summary"], n[lang]["body"]) for lang in langs if lang in n
            }
            if texts:
                repo.publish_news(n["slug"], n["kind"], texts, signer, published=_days_ago(n["published"]))
        if changed:
            version.bump()
            yield f"demo content: {len(pages)} pages and {len(news)} signed news items in {', '.join(langs)}"
        else:
            yield "demo content: already seeded"
    finally:
        conn.close()
        version.close()


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
        accounts.create(conn, DEMO_STAFF, ["admin"], hash_password(password), actor="demo", one_time_days=None)
        # Its officer key, under the one-time password: the demo inbox is granted to it at once.
        custody.set_officer_key(conn, DEMO_STAFF, new_officer_key(password)[0], actor="demo")
        atomic_write(login_file, f"{DEMO_STAFF}\n{password}\n".encode(), mode=0o600)
        yield f"demo staff account {DEMO_STAFF!r} (admin) created; its login is kept in {login_file} (demo only)"
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
    yield from seed_content(config, ring)
    yield from seed_staff(config)
    yield from seed_inbox(config)
