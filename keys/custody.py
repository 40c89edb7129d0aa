"""M-of-N custody of the master key with SLIP-39 Shamir shares (the ``shamir-mnemonic`` library).

A share file is plain text a custodian can print and keep on paper: a header naming the custodian
number and the master key id it belongs to, and the mnemonic between BEGIN/END lines. A file that
holds only the words (typed back from paper) is accepted too.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import shamir_mnemonic
from shamir_mnemonic.share import Share
from shamir_mnemonic.utils import MnemonicError

from keys.derive import MASTER_KEY_BYTES, master_key_id
from keys.errors import CustodyError

BEGIN = "-----BEGIN EMBASSY MASTER KEY SHARE-----"
END = "-----END EMBASSY MASTER KEY SHARE-----"
_WORDS_PER_LINE = 6


@dataclass(frozen=True, slots=True)
class ShareKind:
    """What a split secret is: the words on its share files and how its id is computed. The master
    key and the inbox recovery key (keys/inbox_keys.py) are split alike but never confused: a share
    file of one names its kind, and shares of the other kind are refused."""

    title: str  # "master key", "inbox recovery key"
    begin: str
    end: str
    key_id: Callable[[bytes], str]

    @property
    def id_line(self) -> re.Pattern[str]:
        return re.compile(rf"^{self.title.capitalize()} id:\s*([0-9a-f]{{16}})\s*$", re.MULTILINE)


MASTER_KEY = ShareKind("master key", BEGIN, END, master_key_id)


@dataclass(frozen=True, slots=True)
class ShareText:
    custodian: int
    text: str


def split_master_key(master_key: bytes, threshold: int, shares: int, mission: str) -> list[ShareText]:
    """N share texts, any ``threshold`` of which recover ``master_key``."""
    return split_secret(master_key, threshold, shares, mission, MASTER_KEY)


def split_secret(secret: bytes, threshold: int, shares: int, mission: str, kind: ShareKind) -> list[ShareText]:
    """N share texts of a 32-byte ``secret`` of ``kind``, any ``threshold`` of which recover it."""
    master_key = secret
    if len(master_key) != MASTER_KEY_BYTES:
        raise CustodyError(f"{kind.title} must be 32 bytes")
    if not 1 <= threshold <= shares <= 16:
        raise CustodyError(f"need 1 <= threshold <= shares <= 16, got threshold {threshold} and shares {shares}")
    if threshold == 1 and shares > 1:
        # SLIP-39 allows only a single share when the threshold is 1; a 1-of-N split is N copies.
        raise CustodyError("a threshold of 1 makes every share the whole key; use a threshold of 2 or more")
    groups = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], master_key)
    key_id = kind.key_id(master_key)
    title = kind.title.capitalize()
    out = []
    for number, mnemonic in enumerate(groups[0], start=1):
        words = mnemonic.split()
        rows = [
            " ".join(f"{i + 1:2d}.{w}" for i, w in enumerate(words[r : r + _WORDS_PER_LINE], start=r))
            for r in range(0, len(words), _WORDS_PER_LINE)
        ]
        text = "\n".join(
            [
                f"Virtual embassy - {kind.title} share (SLIP-39)",
                f"Mission: {mission}",
                f"Custodian: {number} of {shares} (any {threshold} shares recover the {kind.title})",
                f"{title} id: {key_id}",
                "",
                kind.begin,
                *rows,
                kind.end,
                "",
                "Keep this on paper in a safe place and never store it beside the other shares.",
                f"Anyone holding {threshold} shares holds the {kind.title}"
                + (" of the state." if kind is MASTER_KEY else " of the mission's inbox."),
                "",
            ]
        )
        out.append(ShareText(number, text))
    return out


@dataclass(frozen=True, slots=True)
class ParsedShare:
    mnemonic: str
    key_id: str | None
    source: str


def parse_share(text: str, source: str, kind: ShareKind = MASTER_KEY) -> ParsedShare:
    """Read a share file (or bare words); ``source`` names it in errors (a path, never the words).
    A file that names another kind of secret is refused."""
    for other in _KINDS:
        if other is not kind and other.begin in text:
            raise CustodyError(f"{source}: this is a share of the {other.title}, not of the {kind.title}")
    match = kind.id_line.search(text)
    key_id = match.group(1) if match else None
    if kind.begin in text:
        if kind.end not in text:
            raise CustodyError(f"{source}: the share is cut off (no END line)")
        text = text.split(kind.begin, 1)[1].split(kind.end, 1)[0]
    words = [re.sub(r"^\d+\.", "", tok).lower() for tok in text.split()]
    words = [w for w in words if w]
    if not words:
        raise CustodyError(f"{source}: no share words found")
    return ParsedShare(" ".join(words), key_id, source)


def combine_shares(shares: list[ParsedShare], kind: ShareKind = MASTER_KEY) -> bytes:
    """The secret (the master key by default) from enough shares; raises :class:`CustodyError`."""
    if not shares:
        raise CustodyError("no share files given")
    decoded = []
    for share in shares:
        try:
            decoded.append(Share.from_mnemonic(share.mnemonic))
        except MnemonicError as e:
            raise CustodyError(
                f"{share.source}: not a valid share (a word is mistyped or missing): {_reason(e)}"
            ) from e
    ids = {s.key_id for s in shares if s.key_id}
    if len(ids) > 1:
        raise CustodyError(f"the shares belong to different {kind.title}s: " + ", ".join(sorted(ids)))
    if len({d.identifier for d in decoded}) > 1:
        raise CustodyError("the shares come from two different splits; use shares of one split only")
    if len({d.index for d in decoded}) < len(decoded):
        raise CustodyError("the same custodian's share was given twice")
    threshold = decoded[0].member_threshold
    if len(decoded) < threshold:
        raise CustodyError(f"{len(decoded)} share(s) given but this split needs {threshold}")
    try:
        # SLIP-39 refuses more shares than the threshold; any M of those given (all checked above) will do.
        master = bytes(shamir_mnemonic.combine_mnemonics([s.mnemonic for s in shares[:threshold]]))
    except MnemonicError as e:
        raise CustodyError(f"the shares do not combine: {_reason(e)}") from e
    if ids and kind.key_id(master) not in ids:
        raise CustodyError("the shares combine to a key other than the one their files name")
    return master


def _reason(e: MnemonicError) -> str:
    # The library quotes the first words of a share in some messages; keep only the reason.
    return re.sub(r'"[^"]*"', "(share)", str(e))


_KINDS: list[ShareKind] = [MASTER_KEY]


def register_kind(kind: ShareKind) -> ShareKind:
    """Make ``kind``'s share files recognisable (so they are refused where another kind is wanted)."""
    _KINDS.append(kind)
    return kind
