"""Tracking codes: what a visitor keeps to follow their case, shown once and never stored.

A code is 16 random symbols of Crockford's base32 (0-9 and A-Z without I, L, O, U: 80 bits) and
one check symbol, written in groups of four joined by ``-``: ``K7QM-3XHD-9TWP-R2BV-C``. The check
symbol is Luhn mod 32 over the 16 (the same alphabet, so a code stays easy to read aloud): it
catches every single mistyped symbol and every swap of two neighbours but those of symbols 16
apart (0/G, 1/H, ...), before any lookup is made.

Reading a code back ignores case, spaces and hyphens, and takes Crockford's look-alikes: I and L
for 1, O for 0 (U is never valid). A code that is malformed or fails its check is refused with
:class:`CodeFormatError` at once: that says nothing about any case, only that it was mistyped.
"""

import secrets

from embassy.contact.errors import CodeFormatError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
LOOKALIKES = {"I": "1", "L": "1", "O": "0"}
RANDOM_SYMBOLS = 16
GROUP = 4
_IGNORED = str.maketrans("", "", " -\t\u00a0\u2010\u2011\u2012\u2013\u2014\u2212")


def _luhn(symbols: str) -> int:
    """Luhn mod N sum, doubling from the right as when the check symbol is still to come."""
    total, factor, n = 0, 2, len(ALPHABET)
    for ch in reversed(symbols):
        addend = factor * VALUES[ch]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return total


def check_symbol(symbols: str) -> str:
    return ALPHABET[(len(ALPHABET) - _luhn(symbols) % len(ALPHABET)) % len(ALPHABET)]


def new_code() -> str:
    """A fresh code, normalised (17 symbols, no separators)."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_SYMBOLS))
    return symbols + check_symbol(symbols)


def display(code: str) -> str:
    """``K7QM3XHD9TWPR2BVC`` as ``K7QM-3XHD-9TWP-R2BV-C``."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalise(typed: str) -> str:
    """A typed code as its 17 symbols; raises :class:`CodeFormatError` when it cannot be one."""
    text = typed.translate(_IGNORED).upper()[:64]
    text = "".join(LOOKALIKES.get(ch, ch) for ch in text)
    if len(text) != RANDOM_SYMBOLS + 1 or any(ch not in VALUES for ch in text):
        raise CodeFormatError("a tracking code has 16 letters and digits and a check character")
    if check_symbol(text[:-1]) != text[-1]:
        raise CodeFormatError("the tracking code has a mistyped character")
    return text
