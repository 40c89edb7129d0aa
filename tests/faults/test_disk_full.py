"""A filesystem store whose disk fills up (a small tmpfs of its own, mounted for the test): the
backup says which store and why, the other stores take the snapshot, and once space is freed the
next backup back-fills what the store missed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dev_stores import DevStore
from engine.conftest import Mission, build_mission

from faults.conftest import run_embassy


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(folder: Path) -> Path:
    """Write into ``folder`` until its disk is full; the filler file, to free the space later."""
    filler = folder / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == 28, e  # ENOSPC
    return filler


async def test_a_full_disk_fails_its_store_only(
    tmp_path: Path, seaweed: list[DevStore], small_disk: Path, record_fault: Callable[..., None]
) -> None:
    mission: Mission = build_mission(tmp_path / "mission", seaweed, quorum=2)
    with mission.config.open("a") as f:
        f.write(
            f'\n[[stores]]\nname = "disk"\nkind = "filesystem"\npath = "{small_disk / "store"}"\njurisdiction = "NO"\n'
        )
    figures = ["filesystem store disk on a 16 MiB tmpfs"]
    done = await run_embassy(mission, mission.config, "backup")
    assert done.code == 0, done.err
    filler = _fill(small_disk)

    (mission.root / "registries" / "population" / "more.txt").write_text("a change that needs a new pack\n" * 100)
    done = await run_embassy(mission, mission.config, "backup", "--json")
    assert done.code == 3, done.err
    figures.append(f"backup with the disk full: {done.seconds:.1f} s, exit 3")
    population = next(s for s in json.loads(done.out)["snapshots"] if s["registry"] == "population")
    assert population["quorum_met"]
    assert {k: v for k, v in population["stores"].items() if k != "disk"} == {"lu": "ok", "ee": "ok", "ch": "ok"}
    assert population["stores"]["disk"].startswith("failed: store disk: ")
    assert "no space left on the store's disk" in population["stores"]["disk"]
    assert "store disk" in done.err and "no space left on the store's disk" in done.err

    filler.unlink()
    done = await run_embassy(mission, mission.config, "backup", "--json")
    assert done.code == 0, done.err
    healed = next(s for s in json.loads(done.out)["snapshots"] if s["registry"] == "population")
    assert healed["backfilled_snapshots"] == 1
    heal = done.seconds
    figures.append(f"time to heal once space was freed: {done.seconds:.1f} s (1 missed snapshot back-filled)")
    done = await run_embassy(mission, mission.config, "verify", "--json")
    assert done.code == 0, done.out
    figures.append("snapshots attempted 2, completed 2, lost 0; verify clean")
    record_fault("filesystem store's disk full, then freed", 2, 2, 0, heal)
    print("\n".join(figures))
