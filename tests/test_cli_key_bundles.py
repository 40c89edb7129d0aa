"""Key bundles under hostile or stale stores: `keys recover` reads every store, every version, and
trusts a bundle only when its sealed header matches its name; rotations never reuse a sequence."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import PASSPHRASE, CliResult, fresh_bucket, s3_env
from test_cli_keys import NEW_PASSPHRASE, Mission, make_mission, recover

from keys import Keyring

SEQ_NAME = re.compile(r"bundle-(\d{10})\.json$")


def seqs(store: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in (store / "keys").iterdir() if (m := SEQ_NAME.search(p.name)))


def data_key_ids(ring: Keyring) -> dict[str, list[str]]:
    return {r.registry: [k.id for k in r.data_keys] for r in ring.registries}


def ring_of(machine: Mission, passphrase: str = PASSPHRASE) -> Keyring:
    return Keyring.unseal(machine.keyring.read_bytes(), passphrase.encode())


def while_away(store: Path):  # type: ignore[no-untyped-def]
    """The store is unreachable (a file where its folder should be) until the block ends."""

    class Away:
        def __enter__(self) -> None:
            store.rename(store.with_name(store.name + "-away"))
            store.write_text("not a folder")

        def __exit__(self, *exc: object) -> None:
            store.unlink()
            store.with_name(store.name + "-away").rename(store)

    return Away()


@pytest.fixture
def split_mission(tmp_path: Path) -> tuple[Mission, list[Path]]:
    m = make_mission(tmp_path / "home")
    assert m.cli("init").code == 0
    r = m.cli("keys", "split", "--threshold", "2", "--shares", "3", "--out", str(tmp_path / "shares"))
    assert r.code == 0, r.err
    return m, sorted((tmp_path / "shares").iterdir())


def rotate_without(m: Mission, store: str) -> CliResult:
    with while_away(m.stores / store):
        r = m.cli("keys", "rotate", "--json")
    assert r.code == 3, (r.code, r.out, r.err)
    doc = json.loads(r.out)
    assert doc["stores"]["lu" if store == "ee" else "ee"] == "ok"
    assert doc["stores"][store].startswith("failed: ")
    return r


def test_recover_takes_the_highest_bundle_of_any_store_not_the_first_store(
    split_mission: tuple[Mission, list[Path]], tmp_path: Path
) -> None:
    m, shares = split_mission
    rotate_without(m, "lu")  # lu, the first store in the config, missed the rotation
    current = ring_of(m)
    assert seqs(m.stores / "lu")[-1] == current.bundle_seq - 1
    assert seqs(m.stores / "ee")[-1] == current.bundle_seq
    fresh = m.fresh_machine(tmp_path / "fresh")
    r = recover(fresh, shares[:2], "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["store"] == "ee" and doc["bundle_seq"] == current.bundle_seq
    assert data_key_ids(ring_of(fresh, NEW_PASSPHRASE)) == data_key_ids(current)
    assert doc["findings"] == []


def test_an_old_bundle_replayed_under_a_higher_number_is_a_finding_and_brings_nothing_back(
    split_mission: tuple[Mission, list[Path]], tmp_path: Path
) -> None:
    m, shares = split_mission
    before = ring_of(m)
    assert m.cli("keys", "rotate").code == 0
    current = ring_of(m)
    # The operator of lu replays the bundle from before the rotation under a higher number.
    old = m.stores / "lu" / "keys" / f"bundle-{before.bundle_seq:010d}.json"
    replay = m.stores / "lu" / "keys" / f"bundle-{current.bundle_seq + 5:010d}.json"
    shutil.copy(old, replay)
    fresh = m.fresh_machine(tmp_path / "fresh")
    r = recover(fresh, shares[:2], "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["bundle_seq"] == current.bundle_seq
    recovered = ring_of(fresh, NEW_PASSPHRASE)
    assert data_key_ids(recovered) == data_key_ids(current)
    assert {r.registry: r.active.id for r in recovered.registries} != {
        r.registry: r.active.id for r in before.registries
    }
    finding = (
        f"store lu: keys/bundle-{current.bundle_seq + 5:010d}.json: its name says sequence "
        f"{current.bundle_seq + 5} but its sealed header says {before.bundle_seq}"
    )
    assert doc["findings"] == [finding]
    assert finding in r.err
    # verify names it too, as damage in that store only.
    v = m.cli("verify", "--json")
    report = json.loads(v.out)
    assert v.code == 1, v.err
    assert f"keys/bundle-{current.bundle_seq + 5:010d}.json" in report["stores"]["lu"]["damaged"]
    assert report["stores"]["ee"]["ok"] is True


def test_a_rotation_after_recovering_from_a_stale_store_continues_above_every_store(
    split_mission: tuple[Mission, list[Path]], tmp_path: Path
) -> None:
    m, shares = split_mission
    rotate_without(m, "lu")
    newest = ring_of(m).bundle_seq
    ee_bundle = (m.stores / "ee" / "keys" / f"bundle-{newest:010d}.json").read_bytes()
    # A fresh machine that could reach only the stale store.
    fresh = m.fresh_machine(tmp_path / "fresh")
    r = recover(fresh, shares[:2], "--store", "lu", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["bundle_seq"] == newest - 1
    # Its first rotation, with both stores reachable, must not reuse the sequence ee holds.
    r = fresh.cli("keys", "rotate", "--json")
    assert r.code == 0, (r.out, r.err)
    assert json.loads(r.out)["stores"] == {"lu": "ok", "ee": "ok"}
    rotated = ring_of(fresh, NEW_PASSPHRASE)
    assert rotated.bundle_seq == newest + 1
    for store in ("lu", "ee"):
        assert seqs(m.stores / store)[-1] == newest + 1
    assert (m.stores / "ee" / "keys" / f"bundle-{newest:010d}.json").read_bytes() == ee_bundle
    # A later recovery from either store alone gets the keys snapshots are now written with.
    for store in ("lu", "ee"):
        later = fresh.fresh_machine(tmp_path / f"later-{store}")
        r = recover(later, shares[1:], "--store", store, "--json")
        assert r.code == 0, r.err
        assert data_key_ids(ring_of(later, NEW_PASSPHRASE)) == data_key_ids(rotated)


def test_verify_names_a_store_that_lacks_the_current_bundle(split_mission: tuple[Mission, list[Path]]) -> None:
    m, _ = split_mission
    rotate_without(m, "ee")
    current = f"keys/bundle-{ring_of(m).bundle_seq:010d}.json"
    r = m.cli("verify", "--json")
    assert r.code == 1, (r.out, r.err)
    report = json.loads(r.out)
    assert report["stores"]["ee"]["missing"] == [current]
    assert report["stores"]["lu"]["ok"] is True
    assert "store ee: PROBLEMS" in r.err and f"  missing: {current}" in r.err


def test_recover_reads_every_version_past_delete_markers(tmp_path: Path, seaweed) -> None:  # type: ignore[no-untyped-def]
    """On a versioned bucket, the operator hides the newest bundle behind a delete marker and lays
    junk over the one before: recovery still finds the newest that opens."""
    dev = seaweed[0]
    bucket = fresh_bucket(dev, locked=True)
    m = make_mission(tmp_path / "home")
    text = m.config.read_text()
    m.config.write_text(
        text[: text.index("[[stores]]")]
        + f'[[stores]]\nname = "de"\nkind = "s3"\nendpoint = "{dev.endpoint}"\nbucket = "{bucket}"\n'
        'jurisdiction = "DE"\naccess_key_env = "TEST_S3_ACCESS"\nsecret_key_env = "TEST_S3_SECRET"\n'
    )
    m.env.update(s3_env(dev))
    assert m.cli("init").code == 0
    r = m.cli("keys", "split", "--threshold", "2", "--shares", "3", "--out", str(tmp_path / "shares"))
    assert r.code == 0, r.err
    shares = sorted((tmp_path / "shares").iterdir())
    assert m.cli("keys", "rotate").code == 0
    current = ring_of(m)
    client = dev.client()
    newest = f"keys/bundle-{current.bundle_seq:010d}.json"
    client.delete_object(Bucket=bucket, Key=newest)
    client.put_object(Bucket=bucket, Key=f"keys/bundle-{current.bundle_seq - 1:010d}.json", Body=b"{}")
    fresh = m.fresh_machine(tmp_path / "fresh")
    fresh.env.update(s3_env(dev))
    r = recover(fresh, shares[:2], "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["bundle_seq"] == current.bundle_seq
    assert data_key_ids(ring_of(fresh, NEW_PASSPHRASE)) == data_key_ids(current)


def test_verify_holds_every_store_to_the_newest_bundle_even_from_a_keyring_behind(
    split_mission: tuple[Mission, list[Path]], tmp_path: Path
) -> None:
    """A machine whose keyring missed a rotation made elsewhere still sees that ee lacks it."""
    m, _ = split_mission
    behind = tmp_path / "keyring-behind"
    shutil.copy(m.keyring, behind)
    rotate_without(m, "ee")
    newest = f"keys/bundle-{ring_of(m).bundle_seq:010d}.json"
    shutil.copy(behind, m.keyring)
    r = m.cli("verify", "--json")
    assert r.code == 1, (r.out, r.err)
    report = json.loads(r.out)
    assert report["stores"]["ee"]["missing"] == [newest]
    assert report["stores"]["lu"]["ok"] is True
