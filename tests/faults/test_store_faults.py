"""Stores that misbehave during backups, each a real SeaweedFS store: one stopped (SIGSTOP) or killed
(SIGKILL, then started again on its data) in the middle of a backup, one behind a proxy adding 2 s of
latency, dropping 10 % of its connections or answering 503 to everything. Every
backup completes with its quorum, within bounds, and once the store is back the next backup
back-fills each snapshot it missed: verify is clean. Each test prints its figures (snapshots
attempted / completed / lost, time to heal)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable

import pytest
from dev_stores import DevStore, signal_group
from engine.conftest import Mission
from stores.faultproxy import FaultProxy

from faults.conftest import (
    Finished,
    change_population,
    config_with,
    heal_and_verify,
    population_of,
    run_embassy,
    start_embassy,
)


def _stop(store: DevStore, how: str) -> None:
    """SIGSTOP freezes the store (its connections stay open, unanswered); SIGKILL ends it (its
    connections reset, its port refuses)."""
    assert store.process is not None
    if how == "SIGSTOP":
        os.kill(store.process.pid, signal.SIGSTOP)
    else:
        signal_group(store.process, signal.SIGKILL)
        store.process.wait(10)


async def _resume(store: DevStore, how: str) -> None:
    """SIGCONT, or the store started again on its own data directory and ports."""
    assert store.process is not None
    if how == "SIGSTOP":
        os.kill(store.process.pid, signal.SIGCONT)
        return
    store.start()
    await asyncio.to_thread(store.wait_ready, 60)


@pytest.mark.parametrize("how", ["SIGSTOP", "SIGKILL"])
async def test_a_store_stopped_mid_backup(
    mission: Mission, seaweed: list[DevStore], how: str, record_fault: Callable[..., None]
) -> None:
    ee = seaweed[1]
    assert ee.process is not None
    figures = [f"{how} of store ee mid-backup"]
    attempted = completed = 0
    stopped = False
    try:
        async with FaultProxy(ee.ports["s3"]) as proxy:  # passes everything; shows when packs go up
            config = config_with(mission, "ee", {ee.endpoint: proxy.endpoint}, "request_timeout = 2\n")
            proc = await start_embassy(mission, config, "backup", "--json")
            async with asyncio.timeout(60):
                while not any(r.startswith("PUT ") and "/packs/" in r for r in proxy.requests):
                    assert proc.returncode is None
                    await asyncio.sleep(0.01)
            _stop(ee, how)
            stopped = True
            loop = asyncio.get_running_loop()
            since = loop.time()
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            attempted += 1
            assert proc.returncode == 3, err.decode()
            population = population_of(Finished(proc.returncode, out.decode(), err.decode(), 0))
            assert population["quorum_met"] and population["stores"]["ee"].startswith("failed: ")
            completed += 1
            figures.append(f"backup finished {loop.time() - since:.1f} s after the stop (deadline 2 s), exit 3")
            # A second backup while ee is still out: set aside at its first request.
            change_population(mission, 1)
            done = await run_embassy(mission, config, "backup", "--json")
            attempted += 1
            assert done.code == 3 and population_of(done)["quorum_met"], done.err
            completed += 1
            figures.append(f"backup with ee out: {done.seconds:.1f} s, exit 3")
        await _resume(ee, how)
        stopped = False
        figures.append(f"snapshots attempted {attempted}, completed (quorum) {completed}, lost 0")
        heal = await heal_and_verify(mission, 2, figures)
        record_fault(f"store {how} mid-backup, resumed", attempted, completed, 0, heal)
    finally:
        if stopped:
            await _resume(ee, how)
    print("\n".join(figures))


async def test_a_store_dropping_connections(
    mission: Mission, seaweed: list[DevStore], record_fault: Callable[..., None]
) -> None:
    """A proxy drops ee's connection (TCP RST, unanswered) under a seeded random 10 % of its
    requests: the retry layer sends those requests again, and every store takes every snapshot."""
    ee = seaweed[1]
    attempted = 2
    async with FaultProxy(ee.ports["s3"], "drop", rate=0.1, seed=1) as proxy:
        config = config_with(mission, "ee", {ee.endpoint: proxy.endpoint})
        first = await run_embassy(mission, config, "backup", "--json", timeout=300)
        change_population(mission, 1)
        second = await run_embassy(mission, config, "backup", "--json", timeout=300)
    assert proxy.faulted >= 3, (proxy.faulted, len(proxy.requests))  # seed 1: drops at requests 9, 10, 14, ...
    for done in (first, second):
        assert done.code == 0, done.err
        assert population_of(done)["stores"] == {"lu": "ok", "ee": "ok", "ch": "ok"}
    done = await run_embassy(mission, mission.config, "snapshots", "--json")
    held = json.loads(done.out)["snapshots"]
    assert len([s for s in held if s["registry"] == "population"]) == attempted
    assert all(s["stores"] == ["lu", "ee", "ch"] for s in held), held
    done = await run_embassy(mission, mission.config, "verify", "--json")
    assert done.code == 0, done.out
    print(
        f"ee dropping 10 % of connections: {proxy.faulted} of {len(proxy.requests)} requests' connections "
        f"reset ({proxy.connections} connections); backups "
        f"{first.seconds:.1f} s and {second.seconds:.1f} s, exit 0; snapshots attempted {attempted}, "
        f"completed {attempted} (in all three stores), lost 0; verify clean"
    )
    record_fault("store dropping 10 % of connections", attempted, attempted, 0, None)


@pytest.mark.parametrize("mode", ["slow", "503"])
async def test_a_slow_or_failing_store(
    mission: Mission, seaweed: list[DevStore], mode: str, record_fault: Callable[..., None]
) -> None:
    ee = seaweed[1]
    figures = [f"store ee behind the proxy, mode {mode} ({'2 s latency' if mode == 'slow' else '503 to all'})"]
    async with FaultProxy(ee.ports["s3"], mode, faults=None, delay=2.0) as proxy:
        config = config_with(mission, "ee", {ee.endpoint: proxy.endpoint})
        done = await run_embassy(mission, config, "backup", "--json", timeout=300)
    population = population_of(done)
    assert population["quorum_met"], done.err
    figures.append(f"backup: {done.seconds:.1f} s, exit {done.code}, {len(proxy.requests)} requests to ee")
    if mode == "slow":
        # Latency under the deadline is no fault: ee takes the snapshot like the others.
        assert done.code == 0, done.err
        assert population["stores"] == {"lu": "ok", "ee": "ok", "ch": "ok"}
        figures.append("snapshots attempted 1, completed 1 (in all three stores), lost 0")
        record_fault("store behind 2 s latency", 1, 1, 0, None)
        print("\n".join(figures))
        return
    assert done.code == 3, done.err
    assert population["stores"]["ee"].startswith("failed: ") and "503" in population["stores"]["ee"]
    # Set aside after its first request ran out of retries: later requests were never sent.
    assert len(proxy.requests) <= 6
    figures.append("snapshots attempted 1, completed 1 (quorum, ee set aside), lost 0")
    heal = await heal_and_verify(mission, 1, figures)
    record_fault("store answering 503 to all", 1, 1, 0, heal)
    print("\n".join(figures))
