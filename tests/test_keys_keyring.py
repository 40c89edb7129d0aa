"""The sealed keyring and the key bundle, through the library (bytes in, bytes out)."""

from __future__ import annotations

import json

import pytest

from keys import BundleError, KdfParams, Keyring, WrongPassphraseError
from keys.kdf import DEFAULT_MEMLIMIT, DEFAULT_OPSLIMIT

PASS = b"correct horse battery staple"
LOW = KdfParams.low_cost_for_tests()


@pytest.fixture(scope="module")
def ring() -> Keyring:
    return Keyring.create(["population", "land-cadastre"])


@pytest.fixture(scope="module")
def sealed(ring: Keyring) -> bytes:
    return ring.seal(PASS, LOW)


def test_round_trip_keeps_every_key(ring: Keyring, sealed: bytes) -> None:
    opened = Keyring.unseal(sealed, PASS)
    assert opened == ring
    assert opened.master_key == ring.master_key
    assert opened.signing_key().encode() == ring.signing_key().encode()
    for reg in ring.registries:
        assert opened.id_key(reg.registry) == ring.id_key(reg.registry)
        assert opened.active_data_key(reg.registry) == ring.active_data_key(reg.registry)
    assert opened.signing.public == bytes(ring.signing_key().verify_key)


def test_master_key_never_in_the_sealed_file(ring: Keyring, sealed: bytes) -> None:
    import base64

    assert ring.master_key.hex().encode() not in sealed
    assert base64.b64encode(ring.master_key) not in sealed
    assert b'master_key"' not in sealed  # the body with the key is only inside the ciphertext


def test_wrong_passphrase(sealed: bytes) -> None:
    with pytest.raises(WrongPassphraseError, match=r"^wrong passphrase or damaged keyring$"):
        Keyring.unseal(sealed, b"correct horse battery stapler")


def test_every_single_byte_edit_is_detected(sealed: bytes) -> None:
    """Flip the low bit of each byte in turn (header, salt, nonce, ciphertext, JSON punctuation)."""
    survivors = []
    for i in range(len(sealed)):
        edited = bytearray(sealed)
        edited[i] ^= 0x01
        try:
            Keyring.unseal(bytes(edited), PASS)
        except WrongPassphraseError as e:
            assert str(e).startswith("wrong passphrase or damaged keyring")
        else:
            survivors.append((i, sealed[max(0, i - 10) : i + 10]))
    assert survivors == []


def test_every_truncation_is_detected(sealed: bytes) -> None:
    # The final newline is not part of the JSON document: cutting it changes nothing that is read.
    body = sealed.rstrip(b"\n")
    for n in range(len(body)):
        with pytest.raises(WrongPassphraseError):
            Keyring.unseal(body[:n], PASS)


@pytest.mark.parametrize(
    "field,value",
    [
        (("header", "kdf", "opslimit"), 2),
        (("header", "kdf", "memlimit"), 16384),
        (("header", "kdf", "alg"), "argon2i13"),
        (("header", "aead"), "chacha20-poly1305"),
        (("header", "version"), 2),
        (("header", "nonce"), "AAAAAAAAAAAAAAAA"),
        (("header", "kdf", "opslimit"), 10**9),
        (("header", "kdf", "memlimit"), 2**40),
        (("ciphertext",), ""),
    ],
)
def test_edited_header_fields(sealed: bytes, field: tuple[str, ...], value: object) -> None:
    doc = json.loads(sealed)
    target = doc
    for part in field[:-1]:
        target = target[part]
    target[field[-1]] = value
    with pytest.raises(WrongPassphraseError):
        Keyring.unseal(json.dumps(doc).encode(), PASS)


@pytest.mark.parametrize("junk", [b"", b"{}", b"null", b"[]", b"\xff\xfe", b'{"header": 1, "ciphertext": 2}'])
def test_garbage_is_a_damaged_keyring(junk: bytes) -> None:
    with pytest.raises(WrongPassphraseError, match="wrong passphrase or damaged keyring"):
        Keyring.unseal(junk, PASS)


def test_default_kdf_parameters_are_in_the_header(ring: Keyring) -> None:
    """The default (what `embassy init` uses): Argon2id, 64 MiB, 18 passes, stored beside the salt."""
    assert (DEFAULT_MEMLIMIT, DEFAULT_OPSLIMIT) == (64 * 1024 * 1024, 18)
    sealed = ring.seal(PASS)
    kdf = json.loads(sealed)["header"]["kdf"]
    assert kdf["alg"] == "argon2id13"
    assert (kdf["memlimit"], kdf["opslimit"]) == (64 * 1024 * 1024, 18)
    assert Keyring.sealed_params(sealed) == KdfParams()


def test_sealed_params_read_back(sealed: bytes) -> None:
    assert Keyring.sealed_params(sealed) == LOW
    with pytest.raises(WrongPassphraseError):
        Keyring.sealed_params(b"not json")


def test_each_seal_uses_fresh_salt_and_nonce(ring: Keyring) -> None:
    a = json.loads(ring.seal(PASS, LOW))["header"]
    b = json.loads(ring.seal(PASS, LOW))["header"]
    assert a["kdf"]["salt"] != b["kdf"]["salt"]
    assert a["nonce"] != b["nonce"]


def test_rotation_keeps_old_keys_to_decrypt(ring: Keyring) -> None:
    rotated = ring.rotated()
    for reg in rotated.registries:
        states = [k.state for k in reg.data_keys]
        assert states == ["retired", "active"]
        old_id = reg.data_keys[0].id
        assert rotated.data_key(reg.registry, old_id) == ring.active_data_key(reg.registry)[1]
        assert rotated.active_data_key(reg.registry)[0] != old_id
        assert rotated.id_key(reg.registry) == ring.id_key(reg.registry)
    assert rotated.bundle_seq == ring.bundle_seq + 1
    assert rotated.master_key_id == ring.master_key_id


def test_with_registries_adds_only_missing(ring: Keyring) -> None:
    assert ring.with_registries(["population"]) is ring
    more = ring.with_registries(["population", "new-one"])
    assert [r.registry for r in more.registries] == ["population", "land-cadastre", "new-one"]
    assert more.registry("population") == ring.registry("population")
    assert more.bundle_seq == ring.bundle_seq + 1


# -- the key bundle ------------------------------------------------------------------------------


def test_bundle_round_trip(ring: Keyring) -> None:
    again = Keyring.from_bundle(ring.master_key, ring.bundle())
    assert again == ring
    assert Keyring.bundle_header(ring.bundle()) == {"master_key_id": ring.master_key_id, "bundle_seq": ring.bundle_seq}


def test_bundle_of_another_master_key_is_refused(ring: Keyring) -> None:
    other = Keyring.create(["population"])
    with pytest.raises(BundleError, match="belongs to master key"):
        Keyring.from_bundle(ring.master_key, other.bundle())


def test_bundle_with_a_swapped_signing_key_is_refused(ring: Keyring) -> None:
    """A store cannot put its own keys into the bundle: the body is sealed under the master key."""
    other = json.loads(Keyring.create().bundle())
    doc = json.loads(ring.bundle())
    doc["nonce"], doc["ciphertext"] = other["nonce"], other["ciphertext"]
    with pytest.raises(BundleError, match="does not open with this master key"):
        Keyring.from_bundle(ring.master_key, json.dumps(doc).encode())


def test_every_single_byte_edit_of_a_bundle_is_detected(ring: Keyring) -> None:
    bundle = ring.bundle()
    survivors = []
    for i in range(len(bundle.rstrip(b"\n"))):
        edited = bytearray(bundle)
        edited[i] ^= 0x01
        try:
            Keyring.from_bundle(ring.master_key, bytes(edited))
        except BundleError:
            continue
        survivors.append((i, bundle[max(0, i - 10) : i + 10]))
    assert survivors == []
