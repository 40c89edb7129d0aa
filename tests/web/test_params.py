"""Strict decoding of query strings and forms: well-formed input or one InputError, nothing else."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict, MultiDictProxy

from embassy.web.params import InputError, integer, parse_urlencoded, text


def test_well_formed_pairs_decode() -> None:
    got = parse_urlencoded(b"q=visa+office&page=2&q=%D0%B2%D0%B8%D0%B7%D0%B0&empty=&flag&&")
    assert got.getall("q") == ["visa office", "виза"]
    assert (got["page"], got["empty"], got["flag"]) == ("2", "", "")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"q=100%", "'%' that is not followed by two hex digits"),
        (b"q=%zz", "'%' that is not followed by two hex digits"),
        (b"q=%4", "'%' that is not followed by two hex digits"),
        (b"q=%ff%fe", "not UTF-8"),
        (b"q=\xff", "not UTF-8"),
        (b"q=%ED%A0%80", "not UTF-8"),  # an encoded surrogate
        (b"&".join(b"f%d=1" % i for i in range(65)), "more than 64 fields"),
    ],
)
def test_malformed_pairs_are_one_specific_error(raw: bytes, why: str) -> None:
    with pytest.raises(InputError, match=why):
        parse_urlencoded(raw)


def _params(**values: str) -> MultiDictProxy[str]:
    return MultiDictProxy(MultiDict(values))


@pytest.mark.parametrize("value", ["²", "①", "٣", "۳", "३", "１", "-1", "+1", " 1", "1.0", "1e3", "", "9" * 19])
def test_integers_are_ascii_digits_only(value: str) -> None:
    with pytest.raises(InputError, match="whole number written in the digits 0-9"):
        integer(_params(page=value), "page", default=1)


def test_integers_parse_and_default() -> None:
    assert integer(_params(page="0042"), "page", default=1) == 42
    assert integer(_params(page="9" * 18), "page", default=1) == 10**18 - 1
    assert integer(_params(), "page", default=7) == 7


def test_text_is_trimmed_cut_and_free_of_control_characters() -> None:
    assert text(_params(q="  visa\tform \n"), "q", max_chars=6) == "visa\tf"
    assert text(_params(), "q", default="none") == "none"
    for bad in ("a\x00b", "\x1b[31m", "x\x7f"):
        with pytest.raises(InputError, match="control characters in 'q'"):
            text(_params(q=bad), "q")


@settings(max_examples=400, database=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_input_error_only(raw: bytes) -> None:
    try:
        got = parse_urlencoded(raw)
    except InputError:
        return
    for name, value in got.items():
        assert isinstance(name, str) and isinstance(value, str)
        assert "\ufffd" not in name + value or b"%EF%BF%BD" in raw.upper() or "\ufffd".encode() in raw


@settings(max_examples=200, database=None)
@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=10))
def test_what_a_browser_encodes_decodes_back(pairs: list[tuple[str, str]]) -> None:
    from urllib.parse import urlencode

    surrogate_free = [(n, v) for n, v in pairs if not any(0xD800 <= ord(c) <= 0xDFFF for c in n + v)]
    got = parse_urlencoded(urlencode(surrogate_free).encode())
    assert list(got.items()) == surrogate_free
