"""deploy/systemd: hardened units that run real commands and get every secret as a credential.

A parser test runs everywhere; where the machine has systemd's tools, ``systemd-analyze verify``,
``systemd-analyze security`` and ``systemd-sysusers`` check the same files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from embassy.cli.main import build_parser

UNITS = ROOT / "deploy" / "systemd"
SERVICES = ("embassy.service", "embassy-drill.service")
INSTALLED_EMBASSY = "/opt/embassy/.venv/bin/embassy"
EXAMPLE_CONFIG = ROOT / "deploy" / "embassy.example.toml"
# Settings the sandbox of both services must have, with these exact values.
HARDENING = {
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "UMask": "0077",
    "User": "embassy",
    "StateDirectory": "embassy",
}
SANDBOX_KEYS = re.compile(
    r"^(Protect|Private|Restrict|SystemCall|Capability|Ambient|NoNew|Lock|Memory|Tasks|ReadWrite|UMask|User|Group|StateDirectory|RemoveIPC|ProcSubset|LimitNOFILE)"
)


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file as systemd reads it: sections of (key, value) in order, keys may repeat,
    ``#``/``;`` comments, a trailing backslash continues a line."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"line {number}: {raw!r} is neither a section nor key=value"
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()), f"line {number}: bad key {key!r}"
        current.append((key.strip(), value.strip()))
    assert not pending, "the file ends in a continued line"
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def last(section: list[tuple[str, str]], key: str) -> str | None:
    found = values(section, key)
    return found[-1] if found else None


def service(name: str) -> list[tuple[str, str]]:
    return parse_unit((UNITS / name).read_text())["Service"]


def config_secret_names() -> set[str]:
    """Every variable name that the example config's ``*_env`` keys give."""
    return set(re.findall(r'^\w+_env\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', EXAMPLE_CONFIG.read_text(), re.M))


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_hardened(name: str) -> None:
    svc = service(name)
    for key, expected in HARDENING.items():
        assert last(svc, key) == expected, f"{name}: {key}={last(svc, key)!r}, want {expected!r}"
    assert last(svc, "DynamicUser") in (None, "no") and last(svc, "User") != "root"
    memory = last(svc, "MemoryMax")
    assert memory and re.fullmatch(r"\d+[KMG]", memory), f"{name}: MemoryMax={memory!r}"
    assert "@system-service" in values(svc, "SystemCallFilter")
    families = (last(svc, "RestrictAddressFamilies") or "").split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_UNIX"]


@pytest.mark.parametrize("name", SERVICES)
def test_secrets_come_only_as_credentials(name: str) -> None:
    text = (UNITS / name).read_text()
    svc = service(name)
    assert values(svc, "EnvironmentFile") == [] and "EnvironmentFile" not in text
    # The environment holds where things are, never a secret.
    environment = dict(v.split("=", 1) for v in values(svc, "Environment"))
    assert environment == {
        "EMBASSY_CONFIG": "/etc/embassy/embassy.toml",
        "EMBASSY_PASSPHRASE_FILE": "%d/embassy-passphrase",
    }
    credentials = {v.split(":", 1)[0] for v in values(svc, "LoadCredential")}
    assert "embassy-passphrase" in credentials
    # Every store secret the example config names is given to the service by name.
    needed = config_secret_names() - ({"METRICS_TOKEN"} if name != "embassy.service" else set())
    assert needed and needed <= credentials, needed - credentials
    assert {"LU_ACCESS_KEY", "LU_SECRET_KEY", "METRICS_TOKEN"} <= config_secret_names()


def test_both_services_share_one_sandbox() -> None:
    sandboxes = [[(k, v) for k, v in service(name) if SANDBOX_KEYS.match(k)] for name in SERVICES]
    assert sandboxes[0] == sandboxes[1]
    creds = [values(service(name), "LoadCredential") for name in SERVICES]
    assert set(creds[0]) - set(creds[1]) == {"METRICS_TOKEN"}  # only the site opens /metrics


def test_units_run_commands_that_exist() -> None:
    parser = build_parser()
    commands = []
    for name in SERVICES:
        for line in values(service(name), "ExecStart"):
            argv = line.lstrip("-").split()
            assert argv[0] == INSTALLED_EMBASSY, name
            args = parser.parse_args(argv[1:])  # exits 2 on an unknown command or option
            assert callable(args.func)
            commands.append(argv[1])
    assert commands == ["serve", "drill", "verify"]


def test_timer_starts_the_drill_weekly() -> None:
    timer = parse_unit((UNITS / "embassy-drill.timer").read_text())
    assert last(timer["Timer"], "Unit") == "embassy-drill.service" and (UNITS / "embassy-drill.service").is_file()
    assert last(timer["Timer"], "OnCalendar") == "Sun *-*-* 03:00:00"
    assert last(timer["Timer"], "Persistent") == "true"
    assert last(timer["Install"], "WantedBy") == "timers.target"
    assert last(parse_unit((UNITS / "embassy.service").read_text())["Install"], "WantedBy") == "multi-user.target"


def test_the_parser_catches_what_it_must() -> None:
    parsed = parse_unit("[Service]\n# note\nExecStart=/bin/a\\\n  --flag\nLoadCredential=A\nLoadCredential=B\n")
    assert parsed == {"Service": [("ExecStart", "/bin/a --flag"), ("LoadCredential", "A"), ("LoadCredential", "B")]}
    with pytest.raises(AssertionError, match="neither a section nor key=value"):
        parse_unit("[Service]\nProtectSystem strict\n")


def _installed_copies(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this checkout's embassy, which systemd-analyze checks exists."""
    embassy = Path(sys.executable).parent / "embassy"
    assert embassy.is_file()
    for unit in ("embassy.service", "embassy-drill.service", "embassy-drill.timer"):
        (tmp_path / unit).write_text((UNITS / unit).read_text().replace(INSTALLED_EMBASSY, str(embassy)))
    return tmp_path


def _systemd_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        pytest.skip(f"{name} is not on this machine (no systemd); the parser tests above still ran")
    return tool


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    tool = _systemd_tool("systemd-analyze")
    folder = _installed_copies(tmp_path)
    units = ["embassy.service", "embassy-drill.service", "embassy-drill.timer"]
    done = subprocess.run([tool, "verify", "--man=no", *units], cwd=folder, capture_output=True, text=True)
    # verify exits 0 even after warnings such as "Unknown key": any output is a finding.
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr
    (folder / "typo.service").write_text(f"[Service]\nExecStart={sys.executable}\nProtectSystm=strict\n")
    typo = subprocess.run([tool, "verify", "--man=no", "typo.service"], cwd=folder, capture_output=True, text=True)
    assert "Unknown key 'ProtectSystm'" in typo.stderr  # the check above can fail


def test_systemd_analyze_security_rates_both_services_ok(tmp_path: Path) -> None:
    tool = _systemd_tool("systemd-analyze")
    folder = _installed_copies(tmp_path)
    for unit in SERVICES:
        done = subprocess.run(
            # --threshold counts in tenths: 20 is an exposure level of 2.0 ("OK" ends at 3.9).
            [tool, "security", "--offline=yes", "--threshold=20", "--no-pager", unit],
            cwd=folder, capture_output=True, text=True,
        )  # fmt: skip
        level = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", done.stdout)
        assert level and done.returncode == 0, done.stdout[-2000:] + done.stderr
        assert float(level.group(1)) <= 2.0 and level.group(2) == "OK", level.group(0)


def test_sysusers_file_makes_a_system_user_without_login(tmp_path: Path) -> None:
    tool = _systemd_tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    done = subprocess.run(
        [tool, f"--root={tmp_path}", str(UNITS / "embassy.sysusers.conf")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (user,) = [line for line in (tmp_path / "etc" / "passwd").read_text().splitlines() if line.startswith("embassy:")]
    _, _, uid, _, _, home, shell = user.split(":")
    assert int(uid) < 1000 and home == "/var/lib/embassy" and shell == "/usr/sbin/nologin"


def test_embassy_admin_runs_a_command_with_the_units_credentials(tmp_path: Path) -> None:
    """deploy/embassy-admin, with a stand-in systemd-run that records what it was asked to run."""
    stub = tmp_path / "bin" / "systemd-run"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    stub.chmod(0o755)
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin", "EMBASSY_UNIT": str(UNITS / "embassy.service")}
    done = subprocess.run(
        [str(ROOT / "deploy" / "embassy-admin"), "verify", "--json"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    argv = done.stdout.splitlines()
    unit = next(a.removeprefix("--unit=") for a in argv if a.startswith("--unit="))
    assert "--pipe" in argv and "--uid=embassy" in argv and "--wait" in argv
    loaded = [a.removeprefix("--property=LoadCredential=") for a in argv if a.startswith("--property=LoadCredential=")]
    assert loaded == values(service("embassy.service"), "LoadCredential")
    assert f"--setenv=EMBASSY_PASSPHRASE_FILE=/run/credentials/{unit}.service/embassy-passphrase" in argv
    assert argv[-3:] == [INSTALLED_EMBASSY, "verify", "--json"]
    assert not any("=" in a and a.split("=", 1)[0].endswith(("KEY", "TOKEN")) for a in argv)  # no secret in argv
    missing = subprocess.run(
        [str(ROOT / "deploy" / "embassy-admin"), "status"],
        env={**env, "EMBASSY_UNIT": str(tmp_path / "absent.service")}, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read" in missing.stderr
