"""The statement-signing key: its own key, kept in the keyring and the key bundle, rotated, migrated.

``keys-legacy/`` holds a keyring sealed by the code from before statement keys existed, and a
statement its snapshot-signing key signed then (as the demo's were): both must keep working.
"""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import run_cli

from embassy.content.errors import StatementError
from embassy.content.public_keys import keys_document, trusted, trusted_keys
from embassy.content.statements import sign_statement, verify_document
from keys import KdfParams, Keyring

LEGACY = Path(__file__).parent / "keys-legacy"
LEGACY_PASSPHRASE = b"legacy keyring passphrase"
FIELDS = {
    "mission": "Demo Virtual Mission", "kind": "news", "lang": "en", "slug": "s", "path": "/en/news/s",
    "title": "T", "summary": "S", "body_html": "<p>B</p>", "published": "2026-11-25T10:00:00Z",
}  # fmt: skip


def legacy_ring() -> Keyring:
    return Keyring.unseal((LEGACY / "legacy-keyring").read_bytes(), LEGACY_PASSPHRASE)


def legacy_statement() -> dict:  # type: ignore[type-arg]
    return json.loads((LEGACY / "legacy-statement.json").read_text())


def test_a_new_keyring_has_a_statement_key_of_its_own_in_the_keyring_and_the_bundle() -> None:
    ring = Keyring.create(["population"])
    current = ring.statement
    assert current is not None and current.id != ring.signing.id and current.retired is None
    assert bytes(ring.statement_signing_key()) != bytes(ring.signing_key())
    reopened = Keyring.unseal(ring.seal(b"p" * 12, KdfParams.low_cost_for_tests()), b"p" * 12)
    assert reopened == ring
    recovered = Keyring.from_bundle(ring.master_key, ring.bundle())  # what `keys recover` rebuilds
    assert recovered.statement_keys == ring.statement_keys
    assert bytes(recovered.statement_signing_key()) == bytes(ring.statement_signing_key())
    assert ring.with_statement_key() is ring  # nothing to migrate


def test_serving_keys_hold_the_statement_key_and_public_halves_only() -> None:
    ring = Keyring.create(["population"]).with_new_statement_key()
    keys = ring.serving_keys()
    assert keys.statement_seed == bytes(ring.statement_signing_key())
    assert [k.id for k in keys.statement_keys] == [k.id for k in ring.statement_keys]
    assert all(k.wrapped_private is None for k in keys.statement_keys)
    held = pickle.dumps(keys)  # what travels to a worker
    secrets = [ring.master_key, bytes(ring.signing_key()), ring.id_key("population")]
    secrets += [ring.data_key("population", k.id) for k in ring.registry("population").data_keys]
    secrets += [ring.signing.wrapped_private]
    for secret in secrets:
        assert secret not in held


def test_a_keyring_from_before_statement_keys_migrates_and_its_statements_stay_verifiable() -> None:
    ring = legacy_ring()
    assert ring.statement is None and ring.statement_keys == ()
    old = legacy_statement()
    assert old["signature"]["key_id"] == ring.signing.id
    assert verify_document(old, trusted(ring.statement_verification_keys()))["title"] == "New consular hours"

    migrated = ring.with_statement_key()
    assert migrated.bundle_seq == ring.bundle_seq + 1  # the stores get a bundle with the new key
    earlier, current = migrated.statement_keys
    assert earlier.id == ring.signing.id and earlier.retired is not None and earlier.wrapped_private is None
    assert current.id not in (ring.signing.id,) and current.retired is None and current.created == earlier.retired
    assert migrated.with_statement_key() is migrated
    keys = trusted(migrated.statement_verification_keys())
    assert verify_document(old, keys)["title"] == "New consular hours"
    new = sign_statement(FIELDS, migrated.statement_signing_key(), current.id).document()
    assert verify_document(new, keys)["key_id"] == current.id
    # The snapshot-signing key no longer signs statements: one it signed "after" is refused.
    late = sign_statement({**FIELDS, "published": "2099-01-01T00:00:00Z"}, ring.signing_key(), ring.signing.id)
    with pytest.raises(StatementError, match=rf"^signed by key {ring.signing.id}, retired at "):
        verify_document(late.document(), keys)


def test_rotation_retires_the_key_for_good_and_the_keys_document_lists_every_one() -> None:
    ring = Keyring.create([])
    first = ring.statement
    assert first is not None
    signed_before = sign_statement(FIELDS, ring.statement_signing_key(), first.id).document()
    rotated = ring.with_new_statement_key()
    retired, current = rotated.statement_keys
    assert retired.id == first.id and retired.retired == current.created and retired.wrapped_private is None
    with pytest.raises(ValueError, match="retired but keeps its private half"):
        replace(retired, wrapped_private=first.wrapped_private)

    doc = json.loads(keys_document("M", rotated.serving_keys()))
    assert doc["statement_key_id"] == current.id == doc["signature"]["key_id"]
    assert [(k["id"], k["valid_from"], k["valid_until"]) for k in doc["signing_keys"]] == [
        (current.id, current.created, None),
        (first.id, first.created, retired.retired),
    ]
    downloaded = trusted_keys(doc)
    assert verify_document(signed_before, downloaded)["key_id"] == first.id
    extended = json.loads(json.dumps(doc))
    extended["signing_keys"][1]["valid_until"] = None  # someone on the way revives the retired key
    with pytest.raises(StatementError, match="the keys document's own signature does not verify"):
        trusted_keys(extended)
    unsigned = {k: v for k, v in doc.items() if k != "signature"}  # documents of older versions
    assert verify_document(signed_before, trusted_keys(unsigned))["key_id"] == first.id


def test_rotate_statement_through_the_cli_keeps_old_statements_verifiable(tmp_path: Path) -> None:
    root = tmp_path / "m"
    (root / "var").mkdir(parents=True)
    shutil.copy(LEGACY / "legacy-keyring", root / "var" / "keyring")
    (root / "embassy.toml").write_text(
        '[mission]\nname = "Demo Virtual Mission"\n'
        '[[registries]]\nname = "population"\nkind = "directory"\npath = "reg"\n'
        f'[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "{tmp_path / "lu"}"\njurisdiction = "LU"\n'
    )
    statement = tmp_path / "legacy-statement.json"
    shutil.copy(LEGACY / "legacy-statement.json", statement)
    env = {"EMBASSY_PASSPHRASE": LEGACY_PASSPHRASE.decode()}

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return run_cli("--config", str(root / "embassy.toml"), *args, env=env)

    status = json.loads(cli("keys", "status", "--json").out)
    assert status["statement_key_id"] is None  # not migrated by reading
    assert "statement key  none yet" in cli("keys", "status").out
    ok = cli("statement", "verify", str(statement))
    assert ok.code == 0 and "authentic statement of Demo Virtual Mission" in ok.out, ok.err

    rotated = cli("keys", "rotate", "--statement", "--json")
    assert rotated.code == 0, rotated.err
    doc = json.loads(rotated.out)
    ring = Keyring.unseal((root / "var" / "keyring").read_bytes(), LEGACY_PASSPHRASE)
    assert ring.statement is not None and doc["statement_key_id"] == ring.statement.id
    assert doc["retired"] == [
        {"id": ring.signing.id, "valid_from": ring.signing.created, "valid_until": ring.statement.created}
    ]
    assert doc["stores"] == {"lu": "ok"}
    assert "restart `embassy serve` so that its workers sign with the new key" in rotated.err
    assert json.loads(cli("keys", "status", "--json").out)["statement_key_id"] == ring.statement.id
    bundles = sorted((tmp_path / "lu" / "keys").iterdir())
    assert Keyring.from_bundle(ring.master_key, bundles[-1].read_bytes()).statement_keys == ring.statement_keys

    # With the keyring, and with the keys document a worker serves, the old statement still verifies.
    assert cli("statement", "verify", str(statement)).code == 0
    keys_file = tmp_path / "embassy-keys.json"
    keys_file.write_bytes(keys_document("Demo Virtual Mission", ring.serving_keys()))
    with_file = run_cli("statement", "verify", str(statement), "--keys", str(keys_file), "--json")
    assert with_file.code == 0, with_file.err
    assert json.loads(with_file.out)["key_id"] == ring.signing.id
    altered = json.loads(keys_file.read_text())
    altered["signing_keys"][1]["valid_until"] = "2099-01-01T00:00:00Z"
    keys_file.write_text(json.dumps(altered))
    refused = run_cli("statement", "verify", str(statement), "--keys", str(keys_file))
    assert refused.code == 1
    assert f"embassy: {keys_file}: NOT AUTHENTIC: the keys document's own signature does not verify" in refused.err
