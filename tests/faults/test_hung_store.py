"""A store that accepts connections and never answers (the fault proxy's "hang" mode in front of a
real SeaweedFS store): no command waits for it much longer than its ``request_timeout``, and Ctrl-C
ends a command at once even while a request to it is outstanding."""

from __future__ import annotations

import asyncio
import json
import signal

from dev_stores import DevStore
from engine.conftest import Mission
from stores.faultproxy import FaultProxy

from faults.conftest import config_with, run_embassy, start_embassy


async def test_status_with_a_hung_store_ends_within_its_deadline(mission: Mission, seaweed: list[DevStore]) -> None:
    done = await run_embassy(mission, mission.config, "backup")
    assert done.code == 0, done.err
    async with FaultProxy(seaweed[1].ports["s3"], "hang", faults=None) as proxy:
        config = config_with(mission, "ee", {seaweed[1].endpoint: proxy.endpoint}, "request_timeout = 2\n")
        done = await run_embassy(mission, config, "status", "--json")
    assert proxy.requests, "the hung store was never asked"
    assert done.code == 1, done.err
    assert done.seconds < 2 + 3  # one deadline, plus the command's own start (keyring, imports)
    print(f"status with ee hung (request_timeout 2 s): exit 1 in {done.seconds:.1f} s")
    report = json.loads(done.out)
    ee = next(s for s in report["stores"] if s["name"] == "ee")
    assert ee["reachable"] is False
    assert "no answer within 2 s" in ee["error"]
    for s in report["stores"]:
        if s["name"] != "ee":
            assert s["reachable"] is True, s


async def test_ctrl_c_ends_a_command_waiting_on_a_hung_store_within_a_second(
    mission: Mission, seaweed: list[DevStore]
) -> None:
    async with FaultProxy(seaweed[1].ports["s3"], "hang", faults=None) as proxy:
        # A deadline far away: only Ctrl-C can end the wait.
        config = config_with(mission, "ee", {seaweed[1].endpoint: proxy.endpoint}, "request_timeout = 600\n")
        proc = await start_embassy(mission, config, "backup")
        try:
            async with asyncio.timeout(60):
                while not proxy.requests:  # wait until a request to the hung store is outstanding
                    await asyncio.sleep(0.02)
            loop = asyncio.get_running_loop()
            proc.send_signal(signal.SIGINT)
            sent = loop.time()
            _, err = await asyncio.wait_for(proc.communicate(), 10)
            elapsed = loop.time() - sent
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 130, err
    assert err.decode().rstrip().endswith("embassy: interrupted")
    assert elapsed < 1.0, f"the command lived {elapsed:.2f} s after Ctrl-C"
    print(f"Ctrl-C with a request to a hung store outstanding: exit 130 after {elapsed:.2f} s")
