"""Sealed envelopes, the inbox key's custody and tracking-code keys, through the library."""

from __future__ import annotations

import json
import secrets

import pytest
from nacl.public import PrivateKey

from keys import CustodyError, Keyring
from keys.case_keys import CaseKeyError, CodeKdf, derive_case_keys
from keys.custody import parse_share, split_master_key
from keys.inbox_keys import (
    RECOVERY_SHARES,
    InboxKeyError,
    InboxKeyPair,
    WrongOfficerPasswordError,
    new_officer_key,
    new_recovery_key,
    recovery_key_from_shares,
    unlock_officer_key,
    unwrap,
    wrap_for,
    wrap_officer_key,
)
from keys.kdf import KdfParams
from keys.sealing import SealError, open_envelope, recipients_of, seal

LOW = KdfParams.low_cost_for_tests()


def test_an_envelope_opens_for_each_recipient_and_nobody_else() -> None:
    a, b, c = PrivateKey.generate(), PrivateKey.generate(), PrivateKey.generate()
    data = secrets.token_bytes(3 * 1024 * 1024)  # an attachment's size: bulk data is AES-GCM
    env = seal(data, [bytes(a.public_key), bytes(b.public_key)], "case:1:attachment")
    assert open_envelope(env, a, "case:1:attachment") == data == open_envelope(env, b, "case:1:attachment")
    assert data[:64] not in env and len(recipients_of(env)) == 2
    with pytest.raises(SealError, match="not sealed to this key"):
        open_envelope(env, c, "case:1:attachment")


def test_an_envelope_moved_altered_or_cut_does_not_open() -> None:
    key = PrivateKey.generate()
    env = seal(b"my brother was arrested", [bytes(key.public_key)], "case:aa:inquiry")
    with pytest.raises(SealError, match="altered"):
        open_envelope(env, key, "case:bb:inquiry")  # copied into another case's row
    for at in (4 + 9, len(env) - 20, len(env) - 1):  # the sealed key, the ciphertext, the tag
        flipped = bytearray(env)
        flipped[at] ^= 1
        with pytest.raises(SealError):
            open_envelope(bytes(flipped), key, "case:aa:inquiry")
    with pytest.raises(SealError, match="cut off"):
        open_envelope(env[:60], key, "case:aa:inquiry")
    with pytest.raises(SealError, match="not a sealed envelope"):
        open_envelope(b"plain text", key, "case:aa:inquiry")


def test_a_grant_opens_only_for_its_officer_and_its_label() -> None:
    inbox = InboxKeyPair.generate()
    officer = PrivateKey.generate()
    wrapped = wrap_for(bytes(officer.public_key), inbox, "officer:olga")
    assert unwrap(wrapped, bytes(officer), inbox.id, "officer:olga") == inbox
    with pytest.raises(InboxKeyError):
        unwrap(wrapped, bytes(officer), inbox.id, "officer:ivan")  # moved to another officer's row
    with pytest.raises(InboxKeyError):
        unwrap(wrapped, bytes(PrivateKey.generate()), inbox.id, "officer:olga")


def test_an_officer_key_opens_with_its_password_only_and_follows_a_new_one() -> None:
    key, private = new_officer_key("first password of olga", LOW)
    assert unlock_officer_key(key, "first password of olga") == private
    with pytest.raises(WrongOfficerPasswordError):
        unlock_officer_key(key, "first password of olgA")
    rewrapped = wrap_officer_key(private, "second password of olga", LOW)
    assert rewrapped.public == key.public and rewrapped.wrapped != key.wrapped
    assert unlock_officer_key(rewrapped, "second password of olga") == private
    with pytest.raises(WrongOfficerPasswordError):
        unlock_officer_key(rewrapped, "first password of olga")
    assert json.loads(key.kdf)["alg"] == "argon2id13"  # the parameters travel with the key


def test_the_recovery_key_exists_only_as_shares_and_any_two_of_three_recover_it() -> None:
    split = new_recovery_key(2, 3, "Test Mission")
    texts = [s.text for s in split.shares]
    assert all("Inbox recovery key id: " + split.id in t and "BEGIN EMBASSY INBOX RECOVERY KEY SHARE" in t for t in texts)
    got = recovery_key_from_shares([parse_share(texts[0], "1", RECOVERY_SHARES),
                                    parse_share(texts[2], "3", RECOVERY_SHARES)], split.public)  # fmt: skip
    assert bytes(PrivateKey(got).public_key) == split.public
    with pytest.raises(CustodyError, match="needs 2"):
        recovery_key_from_shares([parse_share(texts[1], "2", RECOVERY_SHARES)], split.public)
    other = new_recovery_key(2, 3, "Test Mission")
    with pytest.raises(InboxKeyError, match="not this inbox's"):
        recovery_key_from_shares([parse_share(t.text, "x", RECOVERY_SHARES) for t in other.shares[:2]], split.public)


def test_master_key_shares_and_inbox_shares_are_never_confused() -> None:
    master = split_master_key(secrets.token_bytes(32), 2, 3, "Test Mission")[0].text
    inbox = new_recovery_key(2, 3, "Test Mission").shares[0].text
    with pytest.raises(CustodyError, match="share of the master key, not of the inbox recovery key"):
        parse_share(master, "m.txt", RECOVERY_SHARES)
    with pytest.raises(CustodyError, match="share of the inbox recovery key, not of the master key"):
        parse_share(inbox, "i.txt")


def test_case_keys_are_deterministic_per_code_and_salt_and_reveal_neither() -> None:
    kdf = CodeKdf(1, 8192)
    salt = secrets.token_bytes(16)
    one = derive_case_keys("K7QM3XHD9TWPR2BVC", salt, kdf)
    assert one == derive_case_keys("K7QM3XHD9TWPR2BVC", salt, kdf)
    assert one.lookup != derive_case_keys("K7QM3XHD9TWPR2BVD", salt, kdf).lookup
    assert one.lookup != derive_case_keys("K7QM3XHD9TWPR2BVC", secrets.token_bytes(16), kdf).lookup
    assert one.lookup != one.private and len(one.public) == 32
    assert CodeKdf.from_json(CodeKdf(2, 16 << 20).to_json()) == CodeKdf(2, 16 << 20)
    with pytest.raises(CaseKeyError):
        CodeKdf.from_json('{"alg": "argon2id13", "opslimit": 99, "memlimit": 8192}')  # a hostile row


def test_a_new_keyring_has_no_inbox_key_and_an_old_ones_is_dropped_unopened() -> None:
    ring = Keyring.create(["population"])
    body = ring._public_body()
    assert "inbox" not in body and ring.legacy_inbox_id is None
    legacy = {**body, "inbox": {"id": "cd551b5bf625b91b", "algorithm": "x25519", "public": "AA==",
                                "created": body["created"], "wrapped_private": "AA=="}}  # fmt: skip
    old = Keyring._from_body(ring.master_key, legacy)
    assert old.legacy_inbox_id == "cd551b5bf625b91b" and old == ring
    dropped = old.without_legacy_inbox()
    assert dropped.legacy_inbox_id is None and dropped.bundle_seq == ring.bundle_seq + 1
    assert "inbox" not in json.loads(Keyring.unseal(dropped.seal(b"pass phrase here", LOW), b"pass phrase here")
                                     .bundle())["header"]  # fmt: skip
