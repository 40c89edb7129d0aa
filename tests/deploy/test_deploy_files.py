"""The deployment examples stay in step with the code: the example config loads, units run real commands."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT

from embassy.cli.main import build_parser
from embassy.config import load_config


def test_the_production_example_config_loads() -> None:
    env = {f"{s}_{k}_KEY": "x" for s in ("LU", "EE", "CH") for k in ("ACCESS", "SECRET")}
    config = load_config(ROOT / "deploy" / "embassy.example.toml", {**env, "METRICS_TOKEN": "t"})
    assert [s.name for s in config.stores] == ["lu", "ee", "ch", "home"]
    assert [s.name for s in config.stores if config.counts_for_quorum(s)] == ["lu", "ee", "ch"]
    assert all(s.object_lock_days == 30 for s in config.stores if s.kind == "s3")
    assert config.replication.quorum == 2


def test_systemd_units_run_commands_that_exist() -> None:
    parser = build_parser()
    commands = 0
    for unit in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        text = unit.read_text()
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key not in ("ExecStart", "ExecStartPre", "ExecStartPost"):
                continue
            argv = value.lstrip("-").split()
            assert argv[0] == "/opt/embassy/.venv/bin/embassy", unit.name
            args = parser.parse_args(argv[1:])  # exits 2 on an unknown command or option
            assert callable(args.func)
            commands += 1
        assert "EMBASSY_PASSPHRASE_FILE=" in text
        assert "EMBASSY_PASSPHRASE=" not in text  # the passphrase itself never sits in a unit
    assert commands == 3  # serve; drill, verify


def test_compose_file_creates_a_locked_bucket() -> None:
    text = (ROOT / "deploy" / "compose.minio.yml").read_text()
    assert "--with-lock" in text and "127.0.0.1:9000:9000" in text
    assert Path(ROOT / "deploy" / "nginx.conf").read_text().count("proxy_pass") >= 1
