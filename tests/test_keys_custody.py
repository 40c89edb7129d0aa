"""M-of-N custody of the master key (SLIP-39 shares), through the library."""

from __future__ import annotations

import re
import secrets
from itertools import combinations

import pytest
from shamir_mnemonic.wordlist import WORDLIST

from keys import CustodyError
from keys.custody import BEGIN, END, ParsedShare, ShareText, combine_shares, parse_share, split_master_key
from keys.derive import master_key_id

MASTER = secrets.token_bytes(32)


@pytest.fixture(scope="module")
def shares() -> list[ShareText]:
    return split_master_key(MASTER, 3, 5, "Test Mission")


def parsed(shares: list[ShareText], numbers: tuple[int, ...]) -> list[ParsedShare]:
    return [parse_share(shares[n - 1].text, f"share-{n}") for n in numbers]


def words_of(text: str) -> list[str]:
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return [re.sub(r"^\d+\.", "", t) for t in body.split()]


def test_share_text_names_custodian_and_key_id(shares: list[ShareText]) -> None:
    assert [s.custodian for s in shares] == [1, 2, 3, 4, 5]
    key_id = master_key_id(MASTER)
    for s in shares:
        assert f"Custodian: {s.custodian} of 5 (any 3 shares recover the master key)" in s.text
        assert f"Master key id: {key_id}" in s.text
        assert "Mission: Test Mission" in s.text
        assert len(words_of(s.text)) == 33  # SLIP-39, 256-bit secret
        assert all(w in WORDLIST for w in words_of(s.text))


@pytest.mark.parametrize("size", [3, 4, 5])
def test_every_large_enough_subset_recovers(shares: list[ShareText], size: int) -> None:
    for numbers in combinations(range(1, 6), size):
        assert combine_shares(parsed(shares, numbers)) == MASTER, numbers


def test_every_pair_fails(shares: list[ShareText]) -> None:
    for numbers in combinations(range(1, 6), 2):
        with pytest.raises(CustodyError, match=r"^2 share\(s\) given but this split needs 3$"):
            combine_shares(parsed(shares, numbers))


def test_bare_words_typed_back_from_paper(shares: list[ShareText]) -> None:
    typed = [" ".join(words_of(s.text)).upper() for s in shares[:3]]
    assert combine_shares([parse_share(t, f"typed-{i}") for i, t in enumerate(typed)]) == MASTER


def test_shares_of_two_splits_do_not_mix(shares: list[ShareText]) -> None:
    other = split_master_key(MASTER, 3, 5, "Test Mission")
    mixed = [*parsed(shares, (1, 2)), parse_share(other[2].text, "other-3")]
    with pytest.raises(CustodyError, match="two different splits"):
        combine_shares(mixed)


def test_shares_of_two_master_keys_do_not_mix(shares: list[ShareText]) -> None:
    other = split_master_key(secrets.token_bytes(32), 3, 5, "Test Mission")
    mixed = [*parsed(shares, (1, 2)), parse_share(other[2].text, "other-3")]
    with pytest.raises(CustodyError, match="belong to different master keys"):
        combine_shares(mixed)


def test_same_share_twice(shares: list[ShareText]) -> None:
    with pytest.raises(CustodyError, match="given twice"):
        combine_shares(parsed(shares, (1, 1, 2)))


@pytest.mark.parametrize("how", ["other wordlist word", "not a word", "missing word", "swapped words"])
def test_mistyped_share(shares: list[ShareText], how: str) -> None:
    words = words_of(shares[1].text)
    if how == "other wordlist word":
        words[7] = next(w for w in WORDLIST if w != words[7])
    elif how == "not a word":
        words[7] = "zzzz"
    elif how == "missing word":
        del words[7]
    else:
        words[7], words[8] = words[8], words[7]
        if words[7] == words[8]:
            pytest.skip("equal neighbours")
    bad = parse_share(" ".join(words), "share-2.txt")
    with pytest.raises(CustodyError, match=r"^share-2.txt: not a valid share \(a word is mistyped or missing\)") as e:
        combine_shares([parsed(shares, (1,))[0], bad, parsed(shares, (3,))[0]])
    # The error names the file, never the words of any share (no two of them in a row).
    for s in shares:
        w = words_of(s.text)
        for i in range(len(w) - 1):
            assert f"{w[i]} {w[i + 1]}" not in str(e.value)


def test_edited_key_id_line(shares: list[ShareText]) -> None:
    texts = [s.text for s in shares[:3]]
    texts[0] = texts[0].replace(master_key_id(MASTER), "0123456789abcdef")
    with pytest.raises(CustodyError, match="different master keys"):
        combine_shares([parse_share(t, f"s{i}") for i, t in enumerate(texts)])
    all_edited = [t.replace(master_key_id(MASTER), "0123456789abcdef") for t in (s.text for s in shares[:3])]
    with pytest.raises(CustodyError, match="other than the one their files name"):
        combine_shares([parse_share(t, f"s{i}") for i, t in enumerate(all_edited)])


def test_cut_off_and_empty_share_files(shares: list[ShareText]) -> None:
    with pytest.raises(CustodyError, match="cut off"):
        parse_share(shares[0].text.split(END)[0], "s1")
    with pytest.raises(CustodyError, match="no share words"):
        parse_share("\n\n", "s1")
    with pytest.raises(CustodyError, match="no share files"):
        combine_shares([])


@pytest.mark.parametrize("threshold,count", [(1, 3), (4, 3), (0, 0), (3, 17)])
def test_impossible_splits(threshold: int, count: int) -> None:
    with pytest.raises(CustodyError):
        split_master_key(MASTER, threshold, count, "M")
