"""A network partition: store ee runs in a network namespace of its own (`ip netns`), reached over a
veth pair with private addresses of this test's own (10.213.N.0/30). Mid-backup its link goes down:
the backup meets its quorum with lu and ch and names ee; a second backup while cut off does the same.
The link comes back up and the next backup back-fills every snapshot ee missed: verify is clean."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dev_stores import DevStore, make_stores
from engine.conftest import Mission, build_mission

from faults import conftest as kit

SUBNET = 10 + os.getpid() % 240  # 10.213.SUBNET.0/30: one per test process, never a real host's


@dataclass
class Partition:
    """The namespace, the host's end of the veth pair, and the store running behind it."""

    netns: str
    host_link: str
    store: DevStore

    def link(self, state: str) -> None:
        ip("link", "set", self.host_link, state)


def ip(*args: str) -> None:
    """One `ip` command; its error text in the failure if it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr.strip()}"


@contextlib.contextmanager
def namespace(name: str, host_link: str, host_addr: str, store_addr: str) -> Iterator[None]:
    """A network namespace joined to the host by a veth pair, removed (with the pair) on the way out."""
    ns_link = host_link + "n"
    ip("netns", "add", name)
    try:
        ip("link", "add", host_link, "type", "veth", "peer", "name", ns_link)
        ip("link", "set", ns_link, "netns", name)
        ip("addr", "add", f"{host_addr}/30", "dev", host_link)
        ip("link", "set", host_link, "up")
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        ip("netns", "exec", name, "ip", "addr", "add", f"{store_addr}/30", "dev", ns_link)
        ip("netns", "exec", name, "ip", "link", "set", ns_link, "up")
        yield
    finally:
        subprocess.run(["ip", "link", "del", host_link], capture_output=True, timeout=10)  # gone with the ns too
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


@pytest.fixture
def partition(tmp_path: Path, seaweed: list[DevStore]) -> Iterator[Partition]:
    name = f"embassy-part-{os.getpid()}"
    host_link = f"vemb{os.getpid() % 100000}"
    with namespace(name, host_link, f"10.213.{SUBNET}.1", f"10.213.{SUBNET}.2"):
        (store,) = make_stores(
            1, tmp_path / "netns-store", start_port=24000, names=["p1"],
            access_key=seaweed[0].access_key, secret_key=seaweed[0].secret_key,
        )  # fmt: skip
        store.ip, store.netns = f"10.213.{SUBNET}.2", name
        store.start()
        try:
            store.wait_ready(60)
            yield Partition(name, host_link, store)
        finally:
            store.stop()


async def _wait_for_packs(partition: Partition, bucket: str, proc: asyncio.subprocess.Process) -> None:
    """Until the backup has put a pack into the partitioned store (the event to cut it off at)."""
    client = partition.store.client()

    def has_pack() -> bool:
        listing = client.list_objects_v2(Bucket=bucket, Prefix="r/")
        return any("/packs/" in o["Key"] for o in listing.get("Contents", []))

    async with asyncio.timeout(60):
        while not await asyncio.to_thread(has_pack):
            assert proc.returncode is None, "the backup ended before any pack reached ee"
            await asyncio.sleep(0.02)


async def test_a_store_partitioned_mid_backup_and_healed(
    tmp_path: Path, seaweed: list[DevStore], partition: Partition, record_fault: Callable[..., None]
) -> None:
    mission: Mission = build_mission(tmp_path / "mission", [seaweed[0], partition.store, seaweed[2]])
    config = kit.config_with(mission, "ee", {}, "request_timeout = 2\n")
    figures = [f"store ee in network namespace {partition.netns}, its link {partition.host_link} cut mid-backup"]
    attempted = completed = 0
    try:
        proc = await kit.start_embassy(mission, config, "backup", "--json")
        await _wait_for_packs(partition, mission.buckets["ee"], proc)
        partition.link("down")
        since = asyncio.get_running_loop().time()
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        attempted += 1
        assert proc.returncode == 3, err.decode()
        # The cut lands in whichever registry was being written (the first pack seen may be an
        # earlier one's): ee fails from there on, lu and ch take every snapshot, quorum each time.
        snapshots = json.loads(out)["snapshots"]
        assert all(s["quorum_met"] and s["stores"]["lu"] == s["stores"]["ch"] == "ok" for s in snapshots), snapshots
        cut = [s["registry"] for s in snapshots if s["stores"]["ee"].startswith("failed: ")]
        assert cut, snapshots
        completed += 1  # population's snapshot, with its quorum (the figures count population's)
        missed = int("population" in cut)
        figures.append(f"registries whose snapshot ee missed in the cut backup: {', '.join(cut)}")
        figures.append(f"backup finished {asyncio.get_running_loop().time() - since:.1f} s after the cut, exit 3")
        kit.change_population(mission, 1)
        done = await kit.run_embassy(mission, config, "backup", "--json")
        attempted += 1
        assert done.code == 3 and kit.population_of(done)["quorum_met"], done.err
        assert kit.population_of(done)["stores"]["ee"].startswith("failed: ")
        completed += 1
        missed += 1
        figures.append(f"backup while cut off: {done.seconds:.1f} s, exit 3")
    finally:
        partition.link("up")
    heal = await kit.heal_and_verify(mission, missed, figures)
    done = await kit.run_embassy(mission, mission.config, "snapshots", "--json")
    every = json.loads(done.out)["snapshots"]
    assert all(s["stores"] == ["lu", "ee", "ch"] for s in every), every  # every registry back-filled
    figures.append(f"snapshots attempted {attempted}, completed (quorum) {completed}, lost 0")
    record_fault("network partition (netns link down), healed", attempted, completed, 0, heal)
    print("\n".join(figures))
