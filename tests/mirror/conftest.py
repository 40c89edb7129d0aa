"""A mission whose stores have mirror targets: a SeaweedFS bucket (s3) and a folder (filesystem)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSPHRASE, CliResult, fresh_bucket, run_cli, s3_env, s3_store_toml
from dev_stores import DevStore
from PIL import Image
from web.conftest import REVIEWER, WRITER, SiteEnv, browser, make_site_env  # noqa: F401 - browser: the fixture

from embassy.config import load_config
from embassy.content.version import ContentVersion, version_path
from embassy.mission_db import MISSION_DB, connect
from embassy.publishing.fields import Draft
from embassy.publishing.images import process_image
from embassy.publishing.workflow import Workflow

LANGS = ("kk", "ru", "en")
PHONE = "+7 700 123 45 67"
EMAIL = "consular@mission.example"


@dataclass
class MirrorEnv:
    site: SiteEnv
    store: DevStore
    bucket: str  # the s3 store's mirror_bucket
    folder: Path  # the filesystem store's mirror_path
    client: Any  # boto3, to look at the bucket as anyone holding its keys would

    @property
    def env(self) -> dict[str, str]:
        return {**s3_env(self.store), "EMBASSY_PASSPHRASE": PASSPHRASE}

    def cli(self, *args: str) -> CliResult:
        return run_cli(*args, "--config", str(self.site.config_path), env=self.env, cwd=self.site.root)

    def mirror(self, *args: str) -> dict[str, Any]:
        r = self.cli("mirror", *args, "--json")
        assert r.code == 0, r.err
        return dict(json.loads(r.out))

    def objects(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    def get(self, key: str) -> tuple[bytes, str]:
        obj = self.client.get_object(Bucket=self.bucket, Key=key)
        return obj["Body"].read(), obj["ContentType"]

    def download(self, to: Path) -> Path:
        """The whole bucket into ``to``, as a reader abroad would copy it."""
        for key in self.objects():
            path = to / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.get(key)[0])
        return to


def publish_with_image(site: SiteEnv) -> None:
    """A news item whose body shows an uploaded photo (its variants are /media/ files)."""
    out = io.BytesIO()
    Image.new("RGB", (1600, 1000), (30, 120, 200)).save(out, "JPEG", quality=90)
    version = ContentVersion(version_path(site.config.data_dir))
    conn = connect(site.config.data_dir / MISSION_DB)
    try:
        flow = Workflow(conn, site.signer(), site.config.mission.languages, on_change=version.bump)
        title, summary = "The consulate's new waiting hall", "Citizens are received in a new hall from Monday."
        item = flow.create(WRITER, "news", "en", Draft(title, summary, "<p>From Monday.</p>"), slug="waiting-hall").id
        image = flow.add_image(WRITER, item, process_image(out.getvalue()))
        flow.edit(WRITER, item, "en", Draft(title, summary, f"From Monday.\n\n![The waiting hall](image:{image.id})"))
        flow.submit(WRITER, item, "en")
        flow.approve(REVIEWER, item, "en")
        flow.publish(REVIEWER, item, "en")
    finally:
        conn.close()
        version.close()


def make_mirror_env(root: Path, seaweed: list[DevStore]) -> MirrorEnv:
    site = make_site_env(root, LANGS)
    publish_with_image(site)
    store = seaweed[0]
    bucket = fresh_bucket(store)
    with site.config_path.open("a", encoding="utf-8") as f:  # the last table written is the "lu" store
        f.write('mirror_path = "var/mirror/lu"\n\n')
        f.write(s3_store_toml("abroad", store, fresh_bucket(store)) + f'mirror_bucket = "{bucket}"\n\n')
        f.write(f'[contact]\nemergency_phone = "{PHONE}"\nemail = "{EMAIL}"\n')
    site.config = load_config(site.config_path, s3_env(store))
    return MirrorEnv(site, store, bucket, site.config.data_dir / "mirror" / "lu", store.client())


@pytest.fixture
def mirror_env(tmp_path: Path, seaweed: list[DevStore]) -> MirrorEnv:
    return make_mirror_env(tmp_path / "site", seaweed)


class StaticServer:
    """``python -m http.server`` over a folder on 127.0.0.1 and a free port, stopped by its PID."""

    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(folder), "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...)": it listens
        m = re.search(r"port (\d+)", line)
        assert m, line
        self.url = f"http://127.0.0.1:{m.group(1)}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def static_server() -> Iterator[list[StaticServer]]:
    """Start with ``static_server.append(StaticServer(folder))``; stopped at the end."""
    servers: list[StaticServer] = []
    yield servers
    for s in servers:
        s.stop()
