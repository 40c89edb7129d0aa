"""A dump command runs with a minimal environment: never the passphrase, never a store's secret.

The registry's command is `env -0`, which dumps the environment it was given; the snapshot of it,
backed up to a real SeaweedFS store and restored, is exactly what the command saw.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import PASSPHRASE, fresh_bucket, make_test_keyring, run_cli, s3_env, s3_store_toml
from dev_stores import DevStore

from engine.conftest import write_config

PG_SECRET = "pg-password-passed-on-purpose"
OTHER_SECRET = "a-secret-of-the-shell-never-passed"


def test_a_dump_command_sees_only_the_minimal_environment_and_what_the_registry_names(
    seaweed: list[DevStore], tmp_path: Path
) -> None:
    env_program = shutil.which("env")
    assert env_program
    registries = (
        f'[[registries]]\nname = "environment"\nkind = "command"\ncommand = ["{env_program}", "-0"]\n'
        'env = ["PGPASSWORD", "PGSSLMODE"]\n'
    )
    config = write_config(
        tmp_path, s3_store_toml("lu", seaweed[0], fresh_bucket(seaweed[0])), quorum=1, registries=registries
    )
    make_test_keyring(tmp_path / "var" / "keyring", ["environment"])
    store_env = s3_env(seaweed[0])
    env = {
        **store_env,
        "EMBASSY_PASSPHRASE": PASSPHRASE,
        "PGPASSWORD": PG_SECRET,  # named by the registry; PGSSLMODE is named but not set
        "SHELL_SECRET": OTHER_SECRET,
        "AWS_SECRET_ACCESS_KEY": OTHER_SECRET,
        "LANG": "C.UTF-8",
        "LC_TIME": "en_GB.UTF-8",
        "TZ": "Asia/Almaty",
        "HOME": str(tmp_path),
    }
    backup = run_cli("--config", str(config), "backup", "--json", env=env, cwd=tmp_path)
    assert backup.code == 0, backup.err
    assert json.loads(backup.out)["snapshots"][0]["stores"] == {"lu": "ok"}

    target = tmp_path / "restored"
    restore = run_cli(
        "--config", str(config), "restore", "latest", "--registry", "environment", "--target", str(target),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert restore.code == 0, restore.err
    dumped = (target / "environment.dump").read_bytes()
    seen = dict(entry.split("=", 1) for entry in dumped.decode().split("\0") if entry)
    assert set(seen) == {"PATH", "HOME", "LANG", "LC_TIME", "TZ", "PGPASSWORD"}, sorted(seen)
    assert seen["PGPASSWORD"] == PG_SECRET and seen["TZ"] == "Asia/Almaty" and seen["HOME"] == str(tmp_path)
    for secret in (PASSPHRASE, *store_env.values(), OTHER_SECRET):
        assert secret.encode() not in dumped
