"""deploy/compose.stores.yml: three MinIO stores abroad, each with an Object Lock bucket and its own
credentials. No Docker engine runs here: the file is checked against the Compose specification's
schema (check-jsonschema's vendored copy) and its structure against what embassy relies on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

COMPOSE = ROOT / "deploy" / "compose.stores.yml"
SITES = ("lu", "ee", "ch")
# What the engine calls on a store (replication/stores/s3.py), and what it must never be able to.
NEEDED_ACTIONS = {
    "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration",
    "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
    "s3:GetObjectRetention", "s3:PutObjectRetention",
}  # fmt: skip
FORBIDDEN_ACTIONS = re.compile(r"\*|Bypass|PutBucketObjectLockConfiguration|PutLifecycle|PutBucketPolicy|admin:")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True, text=True, timeout=60
    )


def test_the_compose_specification_schema_accepts_it(tmp_path: Path) -> None:
    done = check_schema(COMPOSE)
    assert done.returncode == 0 and "validation done" in done.stdout, done.stdout + done.stderr
    typo = tmp_path / "typo.yml"
    typo.write_text(COMPOSE.read_text().replace("    depends_on:", "    depend_on:", 1))
    refused = check_schema(typo)
    assert refused.returncode == 1 and "depend_on" in refused.stdout, refused.stdout


def test_three_stores_each_on_loopback_with_its_own_data(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {f"{kind}-{site}" for site in SITES for kind in ("minio", "setup")}
    host_ports, folders = set(), set()
    for site in SITES:
        minio = services[f"minio-{site}"]
        assert minio["image"].startswith("${MINIO_IMAGE:-quay.io/minio/minio:")
        assert "minio server /data" in minio["command"][0]
        (port,) = minio["ports"]
        assert re.fullmatch(r"127\.0\.0\.1:\d+:9000", port), port  # never on every address
        host_ports.add(port.split(":")[1])
        (volume,) = minio["volumes"]
        assert volume == f"./data/{site}:/data"
        folders.add(volume)
        assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
        assert minio["restart"] == "unless-stopped"
        assert "MINIO_ROOT_PASSWORD" not in minio["environment"]  # from its secret file only
    assert len(host_ports) == len(folders) == 3


def test_every_store_has_its_own_secrets(compose: dict[str, Any]) -> None:
    services = compose["services"]
    files = set()
    for site in SITES:
        minio, setup = services[f"minio-{site}"], services[f"setup-{site}"]
        assert minio["secrets"] == [{"source": f"{site}_root_password", "target": "root_password"}]
        assert setup["secrets"] == [
            {"source": f"{site}_root_password", "target": "root_password"},
            {"source": f"{site}_writer_secret", "target": "writer_secret"},
        ]
        assert setup["environment"] == {"SITE": site}
        for kind in ("root-password", "writer-secret"):
            files.add(compose["secrets"][f"{site}_{kind.replace('-', '_')}"]["file"])
    assert files == {f"./secrets/{site}-{kind}" for site in SITES for kind in ("root-password", "writer-secret")}
    # No secret value anywhere in the file: every password is read from /run/secrets.
    assert not re.search(r"(PASSWORD|SECRET)\w*:\s*\S", COMPOSE.read_text().replace("MINIO_ROOT_USER: root", ""))


def test_setup_makes_a_locked_bucket_and_a_writer_limited_to_it(compose: dict[str, Any]) -> None:
    script = compose["x-setup"]["command"][0]
    assert "mc mb --ignore-existing --with-lock site/data-embassy" in script
    assert "retention set" not in script  # no bucket default retention: embassy locks each object
    # Compose turns $$ into $: each site's writer is embassy-lu, embassy-ee, embassy-ch.
    assert 'mc admin user add site "embassy-$${SITE}" "$$(cat /run/secrets/writer_secret)"' in script
    for site in SITES:
        setup = compose["services"][f"setup-{site}"]
        assert setup["depends_on"] == {f"minio-{site}": {"condition": "service_healthy"}}
        (config,) = setup["configs"]
        assert config["target"] == "/policy.json"
        policy = json.loads(compose["configs"][config["source"]]["content"])
        actions = {a for statement in policy["Statement"] for a in statement["Action"]}
        assert actions == NEEDED_ACTIONS
        assert not any(FORBIDDEN_ACTIONS.search(a) for a in actions)
        resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
        assert resources == {"arn:aws:s3:::data-embassy", "arn:aws:s3:::data-embassy/*"}
        assert all(statement["Effect"] == "Allow" for statement in policy["Statement"])


def test_the_lifecycle_rule_does_not_fight_retention(compose: dict[str, Any]) -> None:
    """Only versions embassy itself made noncurrent are expired, and only after the longest lock of
    the example config; current versions are never expired or moved to a cold tier."""
    script = compose["x-setup"]["command"][0]
    rules = [line for line in script.splitlines() if "mc ilm rule add" in line]
    assert len(rules) == 1
    days = int(re.search(r"--noncurrent-expire-days (\d+)", rules[0]).group(1))  # type: ignore[union-attr]
    locks = re.findall(r"^object_lock_days = (\d+)", (ROOT / "deploy" / "embassy.example.toml").read_text(), re.M)
    assert locks and days > max(int(d) for d in locks)
    assert "--expire-days" not in rules[0] and "transition" not in rules[0]
