"""The demo mission that `make run` shows: demo state registries (and, from the site, content).

Everything here is deterministic and small; it exists so a newcomer sees real replication of real
files and databases within seconds of `make run`.
"""

import csv
import json
import random
import sqlite3
from collections.abc import Iterator

from embassy.config import Config
from keys import Keyring

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


def seed_demo(config: Config, ring: Keyring) -> Iterator[str]:
    """Seed what is missing; what exists is left alone, so running it again changes nothing."""
    yield from seed_registries(config)
