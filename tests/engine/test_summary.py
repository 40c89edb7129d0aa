"""The MAC'd summaries of verified manifests in the local cache (replication/summary.py), over two
real filesystem stores: what verify credits from them without reading, what still reads every
copy, and that an entry edited, moved or made with another mission's key is never trusted."""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from engine.test_inventory import manifest_keys, two_stores  # noqa: F401 (two_stores: a fixture)
from keys import Keyring
from keys.encoding import canonical_json
from replication.cache import LocalCache
from replication.inventory import Inventory
from replication.summary import MAC_LABEL, SummaryIndex
from replication.verify import Verifier


def flipped(data: bytes) -> bytes:
    """Other bytes of the same length: only reading them tells."""
    at = len(data) // 2
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


async def test_verify_credits_manifests_verified_before_and_read_data_reads_every_copy(two_stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ring, (hostile, honest), ids = two_stores
    stores = [hostile, honest]
    cache = tmp_path / "verify-cache"
    first = await Verifier(ring, stores, ["a"], cache).run()
    assert first.ok, {n: r.findings for n, r in first.stores.items()}
    index = SummaryIndex(ring, LocalCache(cache))
    for sid in ids["a"]:
        summary = index.load(sid)
        assert summary is not None and summary.id == sid and summary.packs
        assert (summary.files, summary.bytes) == (1, len("a 1\n"))  # what `snapshots` shows
    assert index.load(ids["a"][1]).previous == ids["a"][0]  # type: ignore[union-attr]
    assert first.registries["a"].trusted[ids["a"][1]][1].previous == ids["a"][0]

    newest = (await manifest_keys(hostile, ring, "a"))[-1]
    await hostile.put(newest, flipped(await hostile.get(newest)))
    # Metadata: the id verified before is credited by name and size (docs/commands.md says so).
    meta = await Verifier(ring, stores, ["a"], cache).run()
    assert meta.ok, {n: r.findings for n, r in meta.stores.items()}
    # --read-data reads every copy again, and so does any command without those summaries.
    full = await Verifier(ring, stores, ["a"], cache, read_data=1.0).run()
    assert full.stores["hostile"].damaged == [newest]
    assert "does not match its id" in full.stores["hostile"].findings[0].detail
    assert full.stores["honest"].ok
    inv = await Inventory(ring, stores, LocalCache(tmp_path / "fresh")).registry("a")
    assert [(f.key, f.kind) for f in inv.findings_of("hostile")] == [(newest, "damaged")]
    assert inv.holders(ids["a"][1]) == ["honest"]


async def test_a_tampered_summary_is_ignored_and_its_manifest_verified_again(two_stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ring, (hostile, honest), ids = two_stores
    stores = [hostile, honest]
    cache = tmp_path / "verify-cache"
    assert (await Verifier(ring, stores, ["a"], cache).run()).ok
    local = LocalCache(cache)
    index = SummaryIndex(ring, local)
    old, new = ids["a"]
    intact_new, intact_old = local.summary(new), local.summary(old)
    assert intact_old is not None
    assert intact_new is not None and index.load(new) is not None
    assert SummaryIndex(Keyring.create(["a"]), local).load(new) is None  # another mission's key
    # A pack named again (by this or any later summary the index loads) is the PackRef built the
    # first time, not one more per summary.
    first, second = index.load(new), index.load(new)
    assert first is not None and second is not None and first.packs
    assert all(a is b for a, b in zip(first.packs, second.packs, strict=True))

    mac, newline, body = intact_new.partition(b"\n")
    assert newline and json.loads(body)["packs"]
    edited = {**json.loads(body), "packs": []}  # claims it needs no pack: its MAC no longer matches
    local.remember_summary(new, mac + b"\n" + canonical_json(edited))
    local.remember_summary(old, intact_new)  # an intact entry under another id
    assert index.load(new) is None and index.load(old) is None
    local.remember_summary(old, b"\x00not json")
    assert index.load(old) is None
    # The earlier layout (version 1: a JSON object of body and MAC over its canonical form), MAC'd
    # correctly under this mission's key, is not taken: it is rebuilt from its manifest.
    v1_body = {**json.loads(intact_old.partition(b"\n")[2]), "v": 1}
    assert v1_body["id"] == old
    v1_mac = hmac.new(ring.derived_key(MAC_LABEL), canonical_json(v1_body), "sha256").hexdigest()
    local.remember_summary(old, json.dumps({"body": v1_body, "mac": v1_mac}).encode())
    assert index.load(old) is None

    # Ignored, so the hostile store's swapped copy is read and caught, as with no cache at all.
    newest = (await manifest_keys(hostile, ring, "a"))[-1]
    assert newest.endswith(new)
    await hostile.put(newest, flipped(await hostile.get(newest)))
    report = await Verifier(ring, stores, ["a"], cache).run()
    assert report.stores["hostile"].damaged == [newest]
    assert report.stores["honest"].ok
    # Every pack is still required of every store, and both entries were rebuilt from what verified.
    needed = {p.id for p in report.registries["a"].trusted[new][1].packs}
    assert needed and not report.stores["honest"].unreferenced
    assert index.load(new) is not None and index.load(new).packs  # type: ignore[union-attr]
    assert index.load(old) is not None and index.load(old).id == old  # type: ignore[union-attr]
