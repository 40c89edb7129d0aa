"""The fault suite's pieces: one mission (three real SeaweedFS stores lu/ee/ch) per test, and a
config that puts a store behind a fault-injecting proxy, and the suite's figures: each fault test
records one row (snapshots attempted / completed / lost, time to heal), printed as a table at the end
of the run."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine.conftest import Mission, build_mission


def config_with(
    mission: Mission, name: str, replace: dict[str, str], extra: str = "", source: Path | None = None
) -> Path:
    """The mission's config (or ``source``) with the store ``name`` changed: each ``replace`` key
    becomes its value in that store's table (the endpoint, say), and ``extra`` lines are added to it."""
    text = (source or mission.config).read_text()
    head, *tables = text.split("[[stores]]")
    out = [head]
    for table in tables:
        if f'name = "{name}"' in table:
            for old, new in replace.items():
                assert old in table, old
                table = table.replace(old, new)
            table = table.replace(f'name = "{name}"\n', f'name = "{name}"\n{extra}', 1)
        out.append(table)
    path = mission.root / f"{(source or mission.config).stem}-{name}.toml"
    path.write_text("[[stores]]".join(out))
    return path


@dataclass(frozen=True)
class FaultFigures:
    fault: str
    attempted: int
    completed: int
    lost: int
    heal_seconds: float | None  # None: nothing to heal (no store was left behind)


_FIGURES = pytest.StashKey[list[FaultFigures]]()


@pytest.fixture
def record_fault(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Records a fault test's figures for the table at the end of the run (kept in the pytest
    config's stash, so no module state couples tests)."""
    rows = request.config.stash.setdefault(_FIGURES, [])

    def record(fault: str, attempted: int, completed: int, lost: int = 0, heal_seconds: float | None = None) -> None:
        rows.append(FaultFigures(fault, attempted, completed, lost, heal_seconds))

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    rows = config.stash.get(_FIGURES, [])
    if not rows:
        return
    width = max(len("fault"), *(len(r.fault) for r in rows))
    terminalreporter.section("fault figures")
    terminalreporter.write_line(f"{'fault':<{width}}  attempted  completed  lost  heal (s)")
    for r in rows:
        heal = "-" if r.heal_seconds is None else f"{r.heal_seconds:.1f}"
        terminalreporter.write_line(f"{r.fault:<{width}}  {r.attempted:>9}  {r.completed:>9}  {r.lost:>4}  {heal:>8}")


@dataclass
class Finished:
    code: int
    out: str
    err: str
    seconds: float


async def run_embassy(mission: Mission, config: Path, *args: str, timeout: float = 120) -> Finished:
    """The real `embassy` command, run without blocking the event loop (the proxy lives on it)."""
    proc = await start_embassy(mission, config, *args)
    started = asyncio.get_running_loop().time()
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(), err.decode(), asyncio.get_running_loop().time() - started)


async def start_embassy(mission: Mission, config: Path, *args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")} | mission.env
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "embassy", "--config", str(config), *args,
        cwd=mission.root, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
def mission(tmp_path: Path, seaweed) -> Mission:  # type: ignore[no-untyped-def]
    return build_mission(tmp_path, seaweed)


def population_of(done: Finished) -> dict:  # type: ignore[type-arg]
    return next(s for s in json.loads(done.out)["snapshots"] if s["registry"] == "population")


async def heal_and_verify(mission: Mission, missed: int, figures: list[str]) -> float:
    """The next backup back-fills the ``missed`` snapshots; returns how long it took (time to heal)."""
    done = await run_embassy(mission, mission.config, "backup", "--json")
    assert done.code == 0, done.err
    assert population_of(done)["backfilled_snapshots"] == missed
    heal = done.seconds
    figures.append(f"time to heal (the next backup, back-filling {missed} snapshots): {heal:.1f} s")
    done = await run_embassy(mission, mission.config, "snapshots", "--registry", "population", "--json")
    held = json.loads(done.out)["snapshots"]
    assert all(s["stores"] == ["lu", "ee", "ch"] for s in held), held
    done = await run_embassy(mission, mission.config, "verify", "--json")
    assert done.code == 0, done.out
    figures.append(f"population snapshots held by every store after healing: {len(held)}; verify clean")
    return heal


def change_population(mission: Mission, n: int) -> None:
    """One more file in the test mission's population registry: the next backup has a change."""
    (mission.root / "registries" / "population" / f"new-{n}.txt").write_text(f"change {n}\n")
