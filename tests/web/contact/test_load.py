"""The load test: 50 concurrent submitters, 500 submissions with proof of work, on `embassy serve`.

Test settings (docs/inbox.md): proof of work of 1 PBKDF2 round and 4 bits, the smallest Argon2id
for tracking codes, each submitter its own forwarded address (127.0.0.1 is a trusted proxy) with
production's 10 an hour, and a site-wide limit of 300 a minute (in bursts of 300), so that the
last part of the flood meets it. Every 2xx must be a case in the database that opens with the
inbox key, none twice, and every other answer a 429: never a 5xx.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root: bench/ is not installed

from bench.contact import Served, check, load, make_mission
from keys.inbox_keys import InboxKeyPair

SETTINGS = "[contact]\npow_iterations = 1\npow_bits = 4\ncode_kdf_mib = 1\ncode_kdf_passes = 1\nsite_per_minute = 300\n"


def test_500_submissions_by_50_submitters_are_each_stored_once_or_refused_with_429(tmp_path: Path) -> None:
    private = make_mission(tmp_path, SETTINGS)
    served = Served(tmp_path, workers=2)
    try:
        # the workers publish the inbox key of the mission database (it is in no keyring)
        keys = json.loads(urllib.request.urlopen(served.url + "/.well-known/embassy-keys.json").read())  # noqa: S310
        assert [k["id"] for k in keys["inbox_keys"]] == [InboxKeyPair.from_private(private).id]
        addresses = [f"198.51.100.{i + 1}" for i in range(50)]
        started = time.monotonic()
        result = asyncio.run(load(served.url, 50, 500, addresses))
        elapsed = time.monotonic() - started
    finally:
        assert served.stop() == 0
    assert result.errors == []
    assert set(result.statuses) <= {201, 429}, result.statuses
    assert result.statuses[201] == len(result.accepted) >= 300  # the site's burst, at least
    # The site-wide bucket holds 300 and refills 5 a second: however slow the machine made the
    # flood, no more got through than that, and whatever was beyond it was refused.
    allowed = 300 + 5 * elapsed
    assert len(result.accepted) <= allowed + 5, (len(result.accepted), elapsed)
    if allowed < 490:
        assert result.statuses[429] >= 1  # the flood met the site-wide limit
    checked = check(tmp_path / "var", private, result.accepted)
    assert (checked.found, checked.lost, checked.duplicated) == (len(result.accepted), 0, 0)
    assert checked.cases == len(result.accepted)
